"""Writes for lifecycle: leases (open, extend, extension requests, warnings, retire, unretire,
delete), idle reclaim (policies, cases graded notify → stop → retire → delete, keep marks) and
the savings they produce.

Policies act through provisioning's own services with `user=None` (the audit shows no actor and
the reason). The periodic work (`lifecycle_tick`) takes an explicit `now` so tests move time;
every lease and every server is handled in its own short transaction under a row lock, and
each step checks what was already done, so running it twice does nothing twice.
"""

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

import approvals.services as approval_services
import catalog.services as catalog_services
import provisioning.selectors as provisioning_selectors
import provisioning.services as provisioning_services
from billing.pricing import PriceBook, monthly_quote
from catalog.models import ChangeAction, Order, OrderStatus
from catalog.orders import order_admit, order_completed, order_deploy, order_destroy
from catalog.selectors import catalog_item_list
from catalog.services import order_adopted, order_submit
from core.models import Organization, Project
from core.selectors import user_has_project_perm
from core.services import audit_record, audited_transition, notify
from lifecycle.models import (
    Grade,
    IdlePolicy,
    Lease,
    LeaseState,
    ReclaimCase,
    ResourceKeep,
    Saving,
)
from lifecycle.selectors import (
    LADDER,
    WARNING_DAYS,
    hourly_saving,
    idle_evidence_batch,
    idle_policy_for,
    lease_limit,
    policy_can_change,
    reclaim_candidates,
)
from provisioning.models import Resource, ResourceState, UnknownObject
from provisioning.providers.base import KINDS

logger = logging.getLogger(__name__)
R = ResourceState
# Warnings before a lease expires, in days; each is sent once per expiry.
MAX_EXTENSION_DAYS = 3650
# A resource in one of these states is gone: nothing to retire, reclaim or delete.
GONE = (R.DELETED, R.MISSING)


def grace_period() -> timedelta:
    return timedelta(days=settings.CANOPY_LEASE_GRACE_DAYS)


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _order_url(order_id: int) -> str:
    return reverse("catalog:order_detail", args=[order_id])


def _act_url(resource_id: int) -> str:
    """The resource page's lease and keep panel: Extend (one click) and Keep (with a reason)."""
    return reverse("provisioning:resource_detail", args=[resource_id]) + "#resource-lease"


# --- savings ------------------------------------------------------------------------------
def _savings_start(*, resources: list[Resource], source: str, action: str, now: datetime) -> None:
    """Record what `resources` stop costing per hour from now, priced by billing's engine (one
    price book for them all): a stop saves the running price less what a stopped server still
    pays (its disk), a delete whatever each cost in the state it was in."""
    # Composites are metered through their servers.
    resources = [resource for resource in resources if resource.kind in KINDS]
    if not resources:
        return
    book = PriceBook({resource.cloud_account_id for resource in resources})
    savings = []
    for resource in resources:
        hourly = hourly_saving(book=book, resource=resource, action=action, on=now.date())
        if hourly > 0:
            savings.append(
                Saving(
                    resource=resource,
                    project=resource.project,
                    cost_center=resource.project.cost_center,
                    source=source,
                    action=action,
                    hourly=hourly,
                    started_at=now,
                )
            )
    Saving.objects.bulk_create(savings)


def savings_resource_running(*, resource: Resource, now: datetime | None = None) -> int:
    """The resource runs again (started by anyone): what its stop saved ends now."""
    return Saving.objects.filter(
        resource=resource, action=Saving.Action.STOP, ended_at__isnull=True
    ).update(ended_at=now or timezone.now())


# --- leases -------------------------------------------------------------------------------
def lease_open(
    *, order: Order, now: datetime | None = None, expires_at: datetime | None = None
) -> Lease | None:
    """The completed order's lease, from its item's default (none when the item has none);
    an existing lease is kept. `expires_at` overrides the default (the demo's short lease)."""
    days = order.item.lease_default_days
    if days is None:
        return None
    now = now or timezone.now()
    lease, created = Lease.objects.get_or_create(
        order=order,
        defaults={"starts_at": now, "expires_at": expires_at or now + timedelta(days=days)},
    )
    if created:
        audit_record(
            action="lease.opened",
            target=lease,
            to_state=lease.state,
            message=f"expires {_when(lease.expires_at)}",
            order_id=order.pk,
        )
    return lease


def _lease_locked(lease_id: int) -> Lease:
    return (
        Lease.objects.select_for_update(of=("self",))
        .select_related("order__item", "order__project", "order__requester")
        .get(pk=lease_id)
    )


def _check_project_perm(user: AbstractUser, project: Project, perm: str) -> None:
    if not user_has_project_perm(user=user, project=project, perm=perm):
        raise PermissionDenied("You may not do this in this project.")


def _lease_transition(
    lease: Lease,
    transition: Callable[[], None],
    *,
    actor: AbstractUser | None = None,
    message: str = "",
) -> None:
    with audited_transition(
        lease,
        field="state",
        action="lease.state",
        actor=actor,
        message=message,
        order_id=lease.order_id,
    ):
        transition()
        lease.save()


def _set_expiry(lease: Lease, expires_at: datetime, *, actor, message: str) -> None:
    """A new expiry: its warnings are due again."""
    before = lease.expires_at
    lease.expires_at = expires_at
    lease.warnings_sent = []
    lease.save(update_fields=["expires_at", "warnings_sent"])
    audit_record(
        action="lease.extended",
        target=lease,
        actor=actor,
        message=f"{_when(before)} → {_when(expires_at)}{': ' + message if message else ''}",
        order_id=lease.order_id,
    )


@transaction.atomic
def lease_extend(
    *, user: AbstractUser, lease_id: int, days: int, reason: str = ""
) -> Lease | Order:
    """Push the expiry `days` further. Up to the item's maximum (from the lease's start) it is
    done at once; beyond it, it becomes a change order (`extend_lease`, with a reason) that
    goes to the approvers like any other, and extends the lease once approved
    (`lease_order_changed`). The requester withdraws it by cancelling the order."""
    lease = _lease_locked(lease_id)
    _check_project_perm(user, lease.order.project, "order_in_project")
    if lease.state != LeaseState.ACTIVE:
        raise ValidationError({"lease": [f"A {lease.state} lease cannot be extended."]})
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ValidationError({"days": [f"Extend by 1 to {MAX_EXTENSION_DAYS} days."]})
    wanted = lease.expires_at + timedelta(days=days)
    limit = lease_limit(lease=lease)
    if limit is None or wanted <= limit:
        _set_expiry(lease, wanted, actor=user, message=reason)
        return lease
    if not reason.strip():
        raise ValidationError(
            {"reason": [f"Say why the lease must go beyond its maximum ({_when(limit)})."]}
        )
    return catalog_services.change_order_submit(
        user=user,
        action=ChangeAction.EXTEND_LEASE,
        params={"expires_at": wanted.isoformat(), "reason": reason.strip()},
        order_id=lease.order_id,
        reason=reason.strip(),
    )


def _lease_extension_apply(order: Order) -> None:
    """An approved lease extension: the lease runs to the expiry asked for (a lease retired
    meanwhile stays retired: unretiring it is the way back)."""
    lease = Lease.objects.select_for_update().filter(order_id=order.changes_order_id).first()
    wanted = datetime.fromisoformat(order.parameters["expires_at"])
    if lease is None or lease.state != LeaseState.ACTIVE:
        audit_record(
            action="lease.extension_moot",
            target=order,
            message=f"order #{order.pk} approved, but the lease is no longer active",
            order_id=order.changes_order_id,
        )
        return
    if wanted > lease.expires_at:
        _set_expiry(lease, wanted, actor=None, message=f"order #{order.pk} approved")


@transaction.atomic
def lease_unretire(*, user: AbstractUser, lease_id: int, now: datetime | None = None) -> Lease:
    """Bring a retired order back during its grace period: its servers start again and the
    lease runs for the item's default once more (capped at the maximum, which a project
    manager may go beyond)."""
    now = now or timezone.now()
    lease = _lease_locked(lease_id)
    project = lease.order.project
    _check_project_perm(user, project, "order_in_project")
    if lease.state != LeaseState.RETIRED:
        raise ValidationError(
            {"lease": [f"Only a retired lease can be unretired (it is {lease.state})."]}
        )
    expires_at = now + timedelta(days=lease.order.item.lease_default_days or 1)
    limit = lease_limit(lease=lease)
    if limit is not None and expires_at > limit:
        if not user_has_project_perm(user=user, project=project, perm="approve_for_project"):
            expires_at = limit
        if expires_at <= now:
            raise ValidationError(
                {"lease": ["The lease reached its maximum; a project manager may unretire it."]}
            )
    stopped = Resource.objects.filter(pk__in=lease.stopped_servers, state=R.STOPPED)
    for server in stopped:
        provisioning_services.resource_action_request(
            user=user, resource_id=server.pk, action="start", reason="lease unretired"
        )
    lease.retired_at = lease.delete_at = None
    lease.stopped_servers = []
    lease.expires_at = expires_at
    lease.warnings_sent = []
    _lease_transition(lease, lease.unretire, actor=user, message=f"expires {_when(expires_at)}")
    return lease


def _live_resources(order_id: int) -> list[Resource]:
    return list(
        Resource.objects.select_for_update(of=("self",))
        .filter(order_id=order_id)
        .exclude(state__in=GONE)
        .select_related("project", "parent")
    )


def _lease_warn(lease: Lease, now: datetime) -> bool:
    """The most urgent warning now due, once: earlier ones that were never sent are skipped."""
    due = [d for d in WARNING_DAYS if now >= lease.expires_at - timedelta(days=d)]
    if not due or set(due) <= set(lease.warnings_sent):
        return False
    lease.warnings_sent = sorted(set(lease.warnings_sent) | set(due), reverse=True)
    lease.save(update_fields=["warnings_sent"])
    order = lease.order
    left = lease.expires_at - now
    audit_record(
        action="lease.warned",
        target=lease,
        message=f"{min(due)} day(s) before expiry",
        order_id=order.pk,
    )
    notify(
        user=order.requester,
        subject=f"Order #{order.pk} ({order.item.name}) expires {_when(lease.expires_at)}",
        body=(
            f"The lease of {order.item.name} in {order.project.name} runs out in "
            f"{left.days} day(s) {left.seconds // 3600} hour(s). Then its servers are stopped and, "
            f"after {grace_period().days} day(s), everything is deleted. Extend it from a "
            f"resource page of the order or from Leases."
        ),
        url=_act_url(top.pk) if (top := _top_resource(order.pk)) else _order_url(order.pk),
    )
    return True


def _top_resource(order_id: int) -> Resource | None:
    """The order's first live top-level resource, where its lease panel is."""
    live = Resource.objects.filter(order_id=order_id, parent__isnull=True).exclude(state__in=GONE)
    return live.order_by("pk").first()


def _lease_retire(lease: Lease, now: datetime) -> str:
    """Expired: stop the order's running servers, then wait out the grace period."""
    resources = _live_resources(lease.order_id)
    if not resources:
        _lease_transition(lease, lease.mark_deleted, message="nothing left to retire")
        return "deleted"
    lease.retired_at = now
    lease.delete_at = now + grace_period()
    reason = f"lease expired; deleted on {_when(lease.delete_at)} unless unretired"
    skipped, stopped = [], []
    for server in resources:
        if server.kind != "server" or server.state != R.ACTIVE:
            continue
        try:
            provisioning_services.resource_action_request(
                user=None, resource_id=server.pk, action="stop", reason=reason
            )
        except ValidationError as error:
            skipped.append(f"{server.name}: {' '.join(error.messages)}")
            continue
        lease.stopped_servers.append(server.pk)
        stopped.append(server)
    _savings_start(resources=stopped, source=Saving.Source.LEASE, action="stop", now=now)
    message = reason + (f" (not stopped: {'; '.join(skipped)})" if skipped else "")
    _lease_transition(lease, lease.retire, message=message)
    order = lease.order
    notify(
        user=order.requester,
        subject=f"Order #{order.pk} ({order.item.name}) retired: its lease expired",
        body=(
            f"Its servers were stopped. Everything is deleted on {_when(lease.delete_at)}; "
            f"until then, unretire it from a resource page of the order or from Leases."
        ),
        url=_order_url(order.pk),
    )
    return "retired"


@transaction.atomic
def _lease_due(lease_id: int, now: datetime) -> str:
    lease = _lease_locked(lease_id)
    if lease.state != LeaseState.ACTIVE:
        return "skipped"
    if lease.expires_at <= now:
        return _lease_retire(lease, now)
    return "warned" if _lease_warn(lease, now) else "skipped"


@transaction.atomic
def _lease_delete(lease_id: int, now: datetime) -> str:
    """The grace period is over: delete the order's resources (its destroy saga)."""
    lease = _lease_locked(lease_id)
    if lease.state != LeaseState.RETIRED or lease.delete_at > now:
        return "skipped"
    resources = _live_resources(lease.order_id)
    if resources:
        try:
            with transaction.atomic():
                order_destroy(user=None, order_id=lease.order_id)
        except ValidationError as error:  # still changing: the next run tries again
            logger.info("lease %s: deletion waits: %s", lease.pk, " ".join(error.messages))
            return "waiting"
        # Priced in the state they were in before the saga.
        _savings_start(resources=resources, source=Saving.Source.LEASE, action="delete", now=now)
    _lease_transition(lease, lease.mark_deleted, message="grace period over")
    order = lease.order
    notify(
        user=order.requester,
        subject=f"Order #{order.pk} ({order.item.name}) deleted: its lease ran out",
        body="Its grace period ended without an unretire, so its resources are being deleted.",
        url=_order_url(order.pk),
    )
    return "deleted"


def lease_process(*, now: datetime | None = None) -> dict[str, int]:
    """Warn, retire and delete whatever is due at `now`; safe to run any number of times."""
    now = now or timezone.now()
    horizon = now + timedelta(days=max(WARNING_DAYS))
    done: Counter[str] = Counter()
    due = Lease.objects.filter(state=LeaseState.ACTIVE, expires_at__lte=horizon)
    for lease_id in due.values_list("pk", flat=True):
        done[_lease_due(lease_id, now)] += 1
    over = Lease.objects.filter(state=LeaseState.RETIRED, delete_at__lte=now)
    for lease_id in over.values_list("pk", flat=True):
        done[_lease_delete(lease_id, now)] += 1
    done.pop("skipped", None)
    return dict(done)


def lease_order_changed(*, order: Order, to_state: str) -> None:
    """A completed new order gets its lease; a completed lease extension extends it."""
    if to_state != OrderStatus.COMPLETED:
        return
    if not order.is_change:
        lease_open(order=order)
    elif order.action == ChangeAction.EXTEND_LEASE:
        _lease_extension_apply(order)


def lease_resource_gone(*, resource: Resource) -> None:
    """When a person deleted the order's last resource, its lease has nothing left to govern."""
    lease = Lease.objects.select_for_update().filter(order_id=resource.order_id).first()
    if lease is None or lease.state == LeaseState.DELETED:
        return
    if not Resource.objects.filter(order_id=resource.order_id).exclude(state__in=GONE).exists():
        _lease_transition(lease, lease.mark_deleted, message="the order's resources were deleted")


# --- idle reclaim -------------------------------------------------------------------------
POLICY_FIELDS = {
    "name",
    "enabled",
    "cpu_below_percent",
    "network_below_kbps",
    "window",
    "notify_after",
    "stop_after",
    "retire_after",
    "delete_after",
}


@transaction.atomic
def idle_policy_save(
    *,
    user: AbstractUser | None,
    policy: IdlePolicy | None = None,
    organization: Organization | None = None,
    project: Project | None = None,
    fields: dict,
) -> IdlePolicy:
    """Create or change an idle policy of an organization or of one project (organization
    admins only; `user` None: seed data)."""
    if policy is None:
        if (organization is None) == (project is None):
            raise ValidationError({"scope": ["Give an organization or a project, not both."]})
        policy = IdlePolicy(organization=organization, project=project)
    if user is not None and not policy_can_change(user=user, policy=policy):
        raise PermissionDenied("Only the organization's admins manage its idle policies.")
    unknown = set(fields) - POLICY_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    for name, value in fields.items():
        setattr(policy, name, value)
    if policy.window is None or policy.window <= timedelta(0):
        raise ValidationError({"window": ["A positive duration is required."]})
    scope = IdlePolicy.objects.filter(organization=policy.organization, project=policy.project)
    if scope.exclude(pk=policy.pk).exists():
        raise ValidationError({"scope": ["This organization or project already has a policy."]})
    created = policy.pk is None
    policy.save()
    audit_record(
        action="idle_policy.created" if created else "idle_policy.changed",
        target=policy,
        actor=user,
        message=str(policy),
    )
    return policy


@transaction.atomic
def idle_policy_delete(*, user: AbstractUser, policy: IdlePolicy) -> None:
    if not policy_can_change(user=user, policy=policy):
        raise PermissionDenied("Only the organization's admins manage its idle policies.")
    audit_record(action="idle_policy.deleted", target=policy, actor=user, message=str(policy))
    policy.delete()


@transaction.atomic
def resource_keep_set(*, user: AbstractUser, resource_id: int, reason: str) -> ResourceKeep:
    """The owner asks reclaim to leave the resource alone; its open case closes."""
    resource = Resource.objects.select_for_update().select_related("project").get(pk=resource_id)
    _check_project_perm(user, resource.project, "order_in_project")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why it must be kept."]})
    keep, _ = ResourceKeep.objects.update_or_create(
        resource=resource, defaults={"reason": reason.strip(), "user": user}
    )
    audit_record(
        action="resource.keep",
        target=resource,
        actor=user,
        message=keep.reason,
        order_id=resource.order_id,
    )
    case = ReclaimCase.objects.filter(resource=resource, closed_at__isnull=True).first()
    if case is not None:
        _case_close(case, f"kept by {user}: {keep.reason}", timezone.now(), actor=user)
    return keep


@transaction.atomic
def resource_keep_remove(*, user: AbstractUser, resource_id: int) -> None:
    resource = Resource.objects.select_for_update().select_related("project").get(pk=resource_id)
    _check_project_perm(user, resource.project, "order_in_project")
    deleted, _ = ResourceKeep.objects.filter(resource=resource).delete()
    if not deleted:
        raise ValidationError({"resource": ["It is not marked keep."]})
    audit_record(
        action="resource.keep_removed", target=resource, actor=user, order_id=resource.order_id
    )


def _case_close(
    case: ReclaimCase, reason: str, now: datetime, *, actor: AbstractUser | None = None
) -> None:
    case.closed_at = now
    case.close_reason = reason[:200]
    case.save(update_fields=["closed_at", "close_reason"])
    audit_record(
        action="reclaim.closed",
        target=case,
        actor=actor,
        from_state=case.grade,
        message=reason,
        order_id=case.resource.order_id,
    )


def _describe(evidence: dict, policy: IdlePolicy) -> str:
    return (
        f"average CPU {evidence['cpu_percent']} % (below {policy.cpu_below_percent:g} %), "
        f"network {evidence['network_kbps']} kbps (below {policy.network_below_kbps:g}) "
        f"over {policy.window}"
    )


# What the owner is told when a case reaches a grade.
GRADE_NOTICES = {
    Grade.NOTIFIED: "idle",
    Grade.STOPPED: "stopped because it was idle",
    Grade.RETIRED: "retired because it was idle",
    Grade.DELETED: "deleted because it was idle",
}


def _next_step(case: ReclaimCase) -> tuple[str, datetime] | None:
    """The next grade and when it is due (None: the ladder ends here, an empty wait disables
    its grade and so every later one)."""
    if case.grade not in LADDER:
        return None
    grade, wait_field = LADDER[case.grade]
    wait = getattr(case.policy, wait_field)
    return None if wait is None else (grade, case.graded_at + wait)


def _next_due(case: ReclaimCase, now: datetime) -> str | None:
    """The next grade when its wait is over (None: not yet, or the ladder ends here)."""
    step = _next_step(case)
    return step[0] if step and now >= step[1] else None


def _owner_notice(case: ReclaimCase, subject: str, body: str) -> None:
    resource = case.resource
    notify(
        user=resource.order.requester,
        subject=f"{resource.name}: {subject}",
        body=body,
        url=_act_url(resource.pk),
    )


def _next_wait(case: ReclaimCase) -> str:
    step = _next_step(case)
    if step is None:
        return ""
    return f" It will be {step[0]} after {_when(step[1])} unless you mark it keep."


def _grade_apply(case: ReclaimCase, grade: str, now: datetime) -> bool:
    """Take the case one grade further; False when the server is not ready for it yet."""
    resource = case.resource
    reason = f"idle under policy {case.policy.name}: {grade}"
    if grade == Grade.STOPPED and resource.state == R.ACTIVE:
        provisioning_services.resource_action_request(
            user=None, resource_id=resource.pk, action="stop", reason=reason
        )
        _savings_start(resources=[resource], source=Saving.Source.RECLAIM, action="stop", now=now)
    elif grade in (Grade.STOPPED, Grade.RETIRED) and resource.state != R.STOPPED:
        return False  # stopping still (or stopped by its owner: then it is simply stopped)
    elif grade == Grade.DELETED:
        if resource.state != R.STOPPED:
            return False
        provisioning_services.resource_action_request(
            user=None, resource_id=resource.pk, action="destroy", reason=reason
        )
        _savings_start(resources=[resource], source=Saving.Source.RECLAIM, action="delete", now=now)
    previous = case.grade
    case.grade = grade
    case.graded_at = now
    case.save(update_fields=["grade", "graded_at"])
    audit_record(
        action="reclaim.graded",
        target=case,
        from_state=previous,
        to_state=grade,
        message=reason,
        order_id=resource.order_id,
    )
    if grade == Grade.DELETED:
        _case_close(case, "deleted", now)
    _owner_notice(
        case,
        GRADE_NOTICES[grade],
        f"{_describe(case.evidence, case.policy)}.{_next_wait(case)}",
    )
    return True


@transaction.atomic
def _reclaim_step(
    resource_id: int, policy_id: int | None, evidence: dict | None, now: datetime
) -> str:
    """Open, advance or close the server's case; `evidence` was read before the transaction
    (a provider call), for an active server."""
    resource = (
        Resource.objects.select_for_update(of=("self",))
        .select_related("order__requester", "project")
        .get(pk=resource_id)
    )
    case = (
        ReclaimCase.objects.select_for_update(of=("self",))
        .select_related("policy")
        .filter(resource=resource, closed_at__isnull=True)
        .first()
    )
    if case is None:
        if policy_id is None or resource.state != R.ACTIVE or not (evidence and evidence["idle"]):
            return "busy"
        if ResourceKeep.objects.filter(resource=resource).exists():
            return "kept"
        case = ReclaimCase.objects.create(
            resource=resource,
            policy_id=policy_id,
            opened_at=now,
            graded_at=now,
            evidence=evidence,
        )
        audit_record(
            action="reclaim.opened",
            target=case,
            to_state=case.grade,
            message=_describe(evidence, case.policy),
            order_id=resource.order_id,
        )
    else:
        case.resource = resource  # the locked row
        reason = _close_reason(case, resource, evidence)
        if reason:
            _case_close(case, reason, now)
            return "closed"
        if evidence is not None:  # still idle: show the latest averages
            case.evidence = evidence
            case.save(update_fields=["evidence"])
    moved = False
    while (grade := _next_due(case, now)) and _grade_apply(case, grade, now):
        moved = True
    return case.grade if moved or case.opened_at == now else "waiting"


def _close_reason(case: ReclaimCase, resource: Resource, evidence: dict | None) -> str:
    """Why an open case ends now, or "" to go on."""
    if resource.state in GONE or resource.state == R.DELETING:
        return f"the server is {resource.state}"
    policy = idle_policy_for(project=resource.project)
    if policy is None or policy.pk != case.policy_id:
        return "its policy no longer applies"
    keep = ResourceKeep.objects.filter(resource=resource).first()
    if keep is not None:
        return f"kept: {keep.reason}"
    if resource.state == R.ACTIVE and case.grade in (Grade.STOPPED, Grade.RETIRED):
        return "started again"
    if resource.state == R.ACTIVE and evidence is None:
        return "no metrics any more"
    if resource.state == R.ACTIVE and not evidence["idle"]:
        return f"active again: {_describe(evidence, case.policy)}"
    return ""


def reclaim_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Judge every covered server by its policy's evidence at `now` and move its case along.
    A busy server without a case costs one metrics read and no transaction."""
    now = now or timezone.now()
    done: Counter[str] = Counter()
    policies = {p.pk: p for p in IdlePolicy.objects.filter(enabled=True)}
    open_cases = set(
        ReclaimCase.objects.filter(closed_at__isnull=True).values_list("resource_id", flat=True)
    )
    steps: list[tuple[Resource, int | None]] = []
    judged: list[tuple[Resource, IdlePolicy]] = []
    for resource, policy_id in reclaim_candidates(open_cases=open_cases):
        policy = policies.get(policy_id)
        if policy and resource.state == R.ACTIVE:
            # Evidence counts only over a window the server ran through (the simulated history
            # goes back before it existed); a server with no metrics is never reclaimed.
            if resource.pk not in open_cases and resource.state_changed_at > now - policy.window:
                done["too recent"] += 1
                continue
            judged.append((resource, policy))
        steps.append((resource, policy_id))
    evidence = idle_evidence_batch(judged, now)
    for resource, policy_id in steps:
        found = evidence.get(resource.pk)
        if resource.pk not in open_cases and not (found and found["idle"]):
            done["busy"] += 1
            continue
        try:
            done[_reclaim_step(resource.pk, policy_id, found, now)] += 1
        except ValidationError as error:  # a provider step refused; the next run tries again
            logger.warning("reclaim of resource %s: %s", resource.pk, " ".join(error.messages))
            done["refused"] += 1
    return dict(done)


# --- brownfield adoption ------------------------------------------------------------------
@transaction.atomic
def unknown_servers_adopt(
    *, user: AbstractUser, unknown_ids: list[int], project: Project, observe_only: bool = False
) -> list[Resource]:
    """An organization admin adopts servers launched outside Canopy into one of its projects:
    one completed order per cloud account, its servers resources billed from now on, their
    quota committed; leases, chargeback, idle reclaim and day-2 actions then apply as to any
    server (none of the actions to `observe_only` ones: metered and reported only)."""
    if not unknown_ids:
        raise ValidationError({"objects": ["Choose at least one server."]})
    if not provisioning_selectors.organization_administered(
        user=user, organization=project.organization
    ):
        raise PermissionDenied("Only the organization's admins adopt servers into its projects.")
    unknowns = list(
        UnknownObject.objects.select_for_update(of=("self",))
        .select_related("account")
        .filter(pk__in=unknown_ids)
        .order_by("account_id", "pk")
    )
    if len(unknowns) != len(set(unknown_ids)):
        raise ValidationError(
            {"objects": ["Some of these servers were adopted or are gone meanwhile: reload."]}
        )
    foreign = [u.name for u in unknowns if u.account.organization_id != project.organization_id]
    if foreign:
        raise ValidationError(
            {"project": [f"{project.name} is in another organization than {', '.join(foreign)}."]}
        )
    adopted = []
    for account_id in dict.fromkeys(u.account_id for u in unknowns):
        servers = [u for u in unknowns if u.account_id == account_id]
        account = servers[0].account
        cost = monthly_quote(
            cloud_account_id=account.pk,
            resources=[
                {"kind": "server", "count": 1, "properties": {"size": u.size}} for u in servers
            ],
        )
        order = order_adopted(
            user=user,
            project=project,
            cloud_account=account,
            monthly_cost=cost,
            name=", ".join(u.name for u in servers),
        )
        adopted += [
            provisioning_services.unknown_server_adopt(
                unknown=unknown, order=order, observe_only=observe_only, user=user
            )
            for unknown in servers
        ]
        order_completed(order_id=order.pk)
        approval_services.quota_commit_adopted(order=order)
    return adopted


# --- the periodic task and the demo ---------------------------------------------------------
def lifecycle_tick(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    now = now or timezone.now()
    return {"leases": lease_process(now=now), "reclaim": reclaim_evaluate(now=now)}


# --- demo ---------------------------------------------------------------------------------
DEMO_LEASE_MINUTES = 6
DEMO_POLICY_WAITS = {
    "window": timedelta(minutes=2),
    "notify_after": timedelta(0),
    "stop_after": timedelta(minutes=2),
    "retire_after": timedelta(minutes=2),
    "delete_after": timedelta(minutes=3),
}


def _demo_order(user: AbstractUser, project: Project, name: str) -> Order | None:
    """A new linux-vm order admitted at once (data-lab approves small orders itself); None
    while an earlier demo order of that name is in flight or still has resources."""
    earlier = Order.objects.filter(project=project, parameters__name=name)
    in_flight = earlier.exclude(
        status__in=[OrderStatus.REJECTED, OrderStatus.FAILED, OrderStatus.CANCELLED]
    )
    if (
        in_flight.filter(resources__isnull=True).exists()
        or Resource.objects.filter(order__in=earlier).exclude(state__in=GONE).exists()
    ):
        return None
    item = catalog_item_list(user=user).get(slug="linux-vm")
    order = order_submit(
        user=user, item=item, project=project, parameters={"name": name, "size": "small"}
    )
    order_admit(order_id=order.pk)  # data-lab's policy approves it at once
    # Planned now rather than by the worker, so the seed can mark its servers idle.
    order_deploy(order_id=order.pk)
    order.refresh_from_db()
    return order


def demo_seed() -> None:
    """For `make run`: in data-lab, a server whose lease runs out minutes after seeding (its
    warning due at once, then retired into the grace period), and an idle server under a demo
    policy whose graded steps follow each other minutes apart. Idempotent; skipped unless
    CANOPY_DEMO_WORKLOAD (off in the test suite, whose demo organization stays empty)."""
    if not settings.CANOPY_DEMO_WORKLOAD:
        return
    from django.contrib.auth import get_user_model

    dave = get_user_model().objects.get(username="dave")
    data_lab = Project.objects.get(slug="data-lab")
    for scope, name, fields in [
        (
            {"organization": data_lab.organization},
            "Acme idle servers",
            {
                "cpu_below_percent": 5,
                "network_below_kbps": 50,
                "window": timedelta(days=1),
                "notify_after": timedelta(0),
                "stop_after": timedelta(days=3),
                "retire_after": timedelta(days=7),
                "delete_after": timedelta(days=14),
            },
        ),
        (
            {"project": data_lab},
            "data-lab demo (minutes)",
            {"cpu_below_percent": 10, "network_below_kbps": 200, **DEMO_POLICY_WAITS},
        ),
    ]:
        policy = IdlePolicy.objects.filter(**scope).first()
        scope = scope if policy is None else {}
        idle_policy_save(user=None, policy=policy, **scope, fields={"name": name, **fields})
    order = _demo_order(dave, data_lab, "lease-demo")
    if order is not None and order.status != OrderStatus.REJECTED:
        lease_open(order=order, expires_at=timezone.now() + timedelta(minutes=DEMO_LEASE_MINUTES))
    order = _demo_order(dave, data_lab, "idle-demo")
    if order is not None:
        for server in order.resources.filter(kind="server"):
            provisioning_services.sandbox_set_load(resource=server, load="idle")
