"""Writes for admission: admit submitted orders (reserve quota, open the approval chain),
decide, delegate, escalate."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStage,
    ApprovalStatus,
    ApproverRole,
    Delegation,
    LedgerStatus,
    OrderKind,
    PolicyStage,
    Quota,
    QuotaEntry,
    StageStatus,
    TimeoutAction,
)
from approvals.selectors import (
    APPROVAL_LINK_SALT,
    Demand,
    PolicyMatch,
    admission_over,
    approval_list,
    change_demand,
    policy_auto_approves,
    policy_for_order,
    policy_refuses,
    policy_stages_kept,
    quota_problems,
    resource_demand,
    role_members,
    stage_acting_for,
)
from approvals.signals import approval_decided, order_admission_decided
from core.models import OrganizationMembership, OrganizationRole, Project
from core.services import audit_record, audited_transition, notify
from provisioning.models import Resource
from provisioning.selectors import changed_properties, cloud_account_for_order

if TYPE_CHECKING:  # the order's model is above: approvals is handed orders, never imports them
    from catalog.models import Order

# Who a stage goes to when it is pending past its SLA and the policy says "escalate".
ESCALATION = {
    ApproverRole.PROJECT_MANAGER: ApproverRole.ORG_ADMIN,
    ApproverRole.FINANCE: ApproverRole.ORG_ADMIN,
    ApproverRole.GROUP: ApproverRole.ORG_ADMIN,
}


# --- quota ledger -------------------------------------------------------------------------------


def _lock_quotas(*, project: Project) -> list[Quota]:
    """Lock the project's quota rows (its own and its organization's, always in id order so two
    admissions never deadlock); until commit nobody else can reserve against them."""
    return list(
        Quota.objects.select_for_update(of=("self",))
        .filter(Q(project=project) | Q(organization_id=project.organization_id))
        .select_related("project", "organization")
        .order_by("id")
    )


def _order_demand(order: Order) -> tuple[Demand, set[str]]:
    """What the order's pinned plan takes, and its resource kinds (a change order: what the
    change takes)."""
    if order.is_change:
        return change_demand(order=order)
    account = cloud_account_for_order(order=order)
    specs = order.planned_resources
    demand = resource_demand(
        cloud_account=account, resources=specs, monthly_cost=order.estimated_monthly_cost
    )
    return demand, {spec["kind"] for spec in specs}


def _entry(*, status: str, demand: Demand, **where) -> QuotaEntry:
    return QuotaEntry.objects.create(
        status=status,
        servers=demand.servers,
        vcpus=demand.vcpus,
        ram_gb=demand.ram_gb,
        storage_gb=demand.storage_gb,
        monthly_cost=demand.monthly_cost,
        **where,
    )


def _resource_demand(resource: Resource, properties: dict | None = None) -> Demand:
    """The resource's capacity, as it is or with `properties` in place of its own."""
    if properties is None:
        properties = resource.properties
    return resource_demand(
        cloud_account=resource.cloud_account,
        resources=[{"kind": resource.kind, "count": 1, "properties": properties}],
        monthly_cost=0,
    )


def _quota_commit_change(order: Order) -> None:
    """The change is done: its reservation is released and the resource's line grows by the
    whole change (what a smaller size frees counts from now on). A destroy frees its share as
    its resources are deleted."""
    QuotaEntry.objects.filter(order=order, status=LedgerStatus.RESERVED).update(
        status=LedgerStatus.RELEASED, note="committed as the change", updated_at=timezone.now()
    )
    if order.kind != OrderKind.CHANGE or order.resource_id is None:
        return
    demand, _ = change_demand(order=order)
    if demand != Demand():
        _entry(
            status=LedgerStatus.COMMITTED,
            demand=demand,
            project=order.project,
            order=order,
            resource=order.resource,
            note=order.summary[:120],
        )


@transaction.atomic
def quota_commit_order(*, order: Order) -> None:
    """The order is provisioned: its reservation becomes one committed line per resource."""
    released = QuotaEntry.objects.filter(order=order, status=LedgerStatus.RESERVED).update(
        status=LedgerStatus.RELEASED, note="committed as resources", updated_at=timezone.now()
    )
    if not released:
        return  # committed already (or never reserved)
    # Children (a group's servers, a database's parts) count in their parent's line.
    resources = list(
        Resource.objects.filter(order=order, parent__isnull=True)
        .exclude(state__in=["deleted", "missing"])
        .select_related("cloud_account")
    )
    share = order.estimated_monthly_cost / len(resources) if resources else 0
    for resource in resources:
        _entry(
            status=LedgerStatus.COMMITTED,
            demand=_resource_demand(resource) + Demand(monthly_cost=round(share, 2)),
            project=order.project,
            order=order,
            resource=resource,
        )


@transaction.atomic
def quota_commit_adopted(*, order: Order) -> None:
    """Servers adopted from a provider take quota from their adoption on: one committed line
    each, as a provisioned order's (no reservation came first; they exist already)."""
    resources = list(Resource.objects.filter(order=order).select_related("cloud_account"))
    share = order.estimated_monthly_cost / len(resources) if resources else 0
    for resource in resources:
        _entry(
            status=LedgerStatus.COMMITTED,
            demand=_resource_demand(resource) + Demand(monthly_cost=round(share, 2)),
            project=order.project,
            order=order,
            resource=resource,
        )


def quota_release(*, order: Order | None = None, resource: Resource | None = None) -> int:
    """Stop counting an order's reservation (rejected, cancelled, failed) or a deleted
    resource's lines."""
    entries = QuotaEntry.objects.exclude(status=LedgerStatus.RELEASED)
    if order is not None:
        entries = entries.filter(order=order, status=LedgerStatus.RESERVED)
    else:
        entries = entries.filter(resource=resource)
    return entries.update(status=LedgerStatus.RELEASED, updated_at=timezone.now())


@transaction.atomic
def day2_admit(*, user: AbstractUser | None, resource: Resource, action: str, params: dict) -> None:
    """Admit a day-2 change that adds capacity (resize, extend, desired count) against the
    quota and record it in the ledger; raises ValidationError({"quota": …}) when it won't fit."""
    changed = changed_properties(resource=resource, action=action, params=params)
    if changed == resource.properties:
        return
    delta = _resource_demand(resource, changed) - _resource_demand(resource)
    problems = quota_problems(quotas=_lock_quotas(project=resource.project), demand=delta)
    if problems:
        raise ValidationError({"quota": problems})
    _entry(
        status=LedgerStatus.COMMITTED,
        demand=delta,
        project=resource.project,
        order_id=resource.order_id,
        resource=resource,
        note=f"{action} by {user or 'a policy'}",
    )


# --- opening a request --------------------------------------------------------------------------


def order_admission(*, order: Order) -> None:
    """Admission of a submitted order (locked by its owner, `catalog.orders.order_admit`):
    reserve its quota under the quota rows' lock, check the refusing budgets, find its policy,
    then auto-approve it or open its first stage. An order over a limit that its policy does not
    route to an extra stage is refused with the reason, and the requester is told (the
    submission's pre-check refuses most such orders at once; this is the authority when two
    orders race for the last of a quota). The outcome is announced
    (`approvals.signals.order_admission_decided`, then `approval_decided` when a policy
    approves it at once): the owner moves the order.
    """
    demand, kinds = _order_demand(order)
    over = admission_over(order=order, demand=demand, quotas=_lock_quotas(project=order.project))
    match = policy_for_order(order=order, kinds=kinds, over_quota=bool(over))
    if over and policy_refuses(match):
        _order_refuse(order, over)
        return
    order_admission_decided.send(sender=ApprovalRequest, order=order, refusal="")
    _entry(status=LedgerStatus.RESERVED, demand=demand.gains(), project=order.project, order=order)
    approval = ApprovalRequest.objects.create(
        order=order,
        policy=match.policy,
        policy_name=match.name,
        reason=match.reason,
        distinct_approvers=bool(match.policy and match.policy.distinct_approvers),
        reject_needs_reason=bool(match.policy and match.policy.reject_needs_reason),
    )
    _stages_create(approval, match, over=over)
    audit_record(
        action="approval.opened",
        target=approval,
        to_state=approval.status,
        message=f"Policy {match.name} applies: {match.reason}",
        order_id=order.pk,
    )
    if policy_auto_approves(match=match, order=order) and not over:
        _request_finish(
            approval,
            approve=True,
            actor=None,
            message=f"Policy {match.name} approved it: it adds {order.monthly_cost_delta}/month, "
            f"below {match.policy.auto_approve_below}, and the quota fits.",
        )
    else:
        _advance(approval, _next_stage(approval))


def _order_refuse(order: Order, over: dict[str, list[str]]) -> None:
    """Admission refuses the order: it ends `rejected` with the reason, which the requester
    sees on the order page and in a notification."""
    message = " ".join(message for messages in over.values() for message in messages)
    order_admission_decided.send(sender=ApprovalRequest, order=order, refusal=message)
    _notify_requester(order, "refused", message)


def _stages_create(
    approval: ApprovalRequest, match: PolicyMatch, *, over: dict[str, list[str]]
) -> None:
    cost = approval.order.estimated_monthly_cost
    templates = list(match.policy.stages.all()) if match.policy else []
    kept = policy_stages_kept(match=match, order=approval.order)
    stages = [
        ApprovalStage(
            request=approval,
            position=index,
            name=template.name,
            role=template.role,
            group=template.group,
            mode=template.mode,
            sla_hours=template.sla_hours,
            on_timeout=template.on_timeout,
        )
        for index, template in enumerate(kept, start=1)
    ]
    if not kept:  # no policy, or every stage skipped: a manager decides, never nobody
        stages.append(
            ApprovalStage(
                request=approval, position=1, name="Manager", role=ApproverRole.PROJECT_MANAGER
            )
        )
    if over:
        stages.append(
            ApprovalStage(
                request=approval,
                position=len(stages) + 1,
                name=" and ".join(f"Over {key}" for key in over),
                role=match.policy.over_quota_role,
            )
        )
    ApprovalStage.objects.bulk_create(stages)
    skipped = [t.name for t in templates if t not in kept]
    if skipped:
        audit_record(
            action="approval.stages_skipped",
            target=approval,
            message=f"Skipped by their cost rule (estimate {cost}/month): {', '.join(skipped)}",
            order_id=approval.order_id,
        )


def _waiting_stages(request: ApprovalRequest | OuterRef) -> QuerySet[ApprovalStage]:
    return ApprovalStage.objects.filter(request=request, status=StageStatus.WAITING)


def _next_stage(approval: ApprovalRequest) -> ApprovalStage | None:
    return _waiting_stages(approval).order_by("position").first()


def _advance(approval: ApprovalRequest, following: ApprovalStage | None) -> None:
    """Open the `following` stage (`_next_stage`), or approve the request when none is left
    (every stage is approved then: none is left open to cancel)."""
    if following is None:
        _request_finish(
            approval,
            approve=True,
            actor=approval.decided_by,
            message=approval.comment,
            stages_open=False,
        )
        return
    following.request = approval  # so the request in hand shows the stage it opens
    _stage_open(following)


def _stage_open(stage: ApprovalStage, *, now=None) -> None:
    approval = stage.request
    now = now or timezone.now()
    stage.open()
    stage.opened_at = now
    stage.due_at = now + timedelta(hours=stage.sla_hours) if stage.sla_hours else None
    stage.save()
    approval.current_stage = stage
    approval.save(update_fields=["current_stage"])
    added = _approvers_add(stage, role=stage.role)
    audit_record(
        action="approval.stage_opened",
        target=approval,
        to_state=f"stage {stage.position}",
        message=f"{stage.name}: waiting for {_names(added) or 'nobody (no one holds the role)'}",
        order_id=approval.order_id,
    )


def _approvers_add(stage: ApprovalStage, *, role: str) -> list[AbstractUser]:
    """Give the stage the people holding `role` (never the requester) and email each of them."""
    order = stage.request.order
    people = list(
        role_members(role=role, project=order.project, group_id=stage.group_id)
        .exclude(pk=order.requester_id)
        .exclude(pk__in=stage.approvers.values("pk"))
        .order_by("username")
    )
    stage.approvers.add(*people)
    for person in people:
        _notify_approver(stage, person)
    return people


def _names(users) -> str:
    return ", ".join(user.get_username() for user in users)


def approval_link(*, stage: ApprovalStage, user: AbstractUser, decision: str) -> str:
    """A signed, expiring link to approve or reject one stage, valid only for `user`."""
    token = signing.TimestampSigner(salt=APPROVAL_LINK_SALT).sign_object(
        {"stage": stage.pk, "user": user.pk, "decision": decision}
    )
    return reverse("approvals:approval_link", kwargs={"token": token})


def _notify_approver(stage: ApprovalStage, user: AbstractUser) -> None:
    order = stage.request.order
    body = render_to_string(
        "email/approval_stage_opened.txt",
        {
            "order": order,
            "stage": stage,
            "approval": stage.request,
            "user": user,
            "base_url": settings.CANOPY_BASE_URL,
            "approve_url": approval_link(stage=stage, user=user, decision="approve"),
            "reject_url": approval_link(stage=stage, user=user, decision="reject"),
        },
    )
    notify(
        user=user,
        subject=f"Approval needed: order #{order.pk} {order.summary} ({stage.name})",
        body=body,
        url=reverse("approvals:approval_detail", kwargs={"approval_id": stage.request_id}),
    )


def _notify_requester(order: Order, subject: str, body: str) -> None:
    notify(
        user=order.requester,
        subject=f"Order #{order.pk} {order.summary}: {subject}",
        body=body,
        url=reverse("catalog:order_detail", kwargs={"order_id": order.pk}),
    )


def _request_finish(
    approval: ApprovalRequest,
    *,
    approve: bool,
    actor: AbstractUser | None,
    message: str,
    stages_open: bool = True,
) -> None:
    """End the chain and announce the decision (`catalog.orders` approves or rejects the order;
    a worker then plans the deployment of an approved one)."""
    order = approval.order
    with audited_transition(
        approval,
        field="status",
        action="approval.decided",
        actor=actor,
        message=message,
        order_id=order.pk,
    ):
        (approval.approve if approve else approval.reject)()
        approval.decided_by = actor
        approval.decided_at = timezone.now()
        approval.comment = message
        approval.save()
    if stages_open:
        for stage in approval.stages.filter(status__in=[StageStatus.WAITING, StageStatus.PENDING]):
            stage.cancel()
            stage.save()
    approval_decided.send(
        sender=ApprovalRequest, order=order, approved=approve, actor=actor, message=message
    )
    _notify_requester(
        order,
        "approved" if approve else "rejected",
        f"{'Approved' if approve else 'Rejected'} by {actor or approval.policy_name + ' policy'}"
        + (f": {message}" if message else "."),
    )


# --- deciding -----------------------------------------------------------------------------------


def approval_can_decide(*, user: AbstractUser, approval: ApprovalRequest) -> bool:
    """Whether the user may decide the request's open stage now (directly or as a delegate)."""
    stage = approval.current_stage
    return (
        approval.status == ApprovalStatus.PENDING
        and stage is not None
        and stage_acting_for(user=user, stage=stage)[0]
    )


@transaction.atomic
def approval_decide(
    *, user: AbstractUser, approval_id: int, approve: bool, comment: str = ""
) -> ApprovalRequest:
    """One approver's decision on the open stage. A rejection ends the order; an approval
    completes the stage (mode "any", or the last of "all") and opens the next one. The last
    approval announces the decision and returns: a worker plans the deployment.

    Raises ApprovalRequest.DoesNotExist for a request the user does not see (`approval_list`).
    """
    approval = (
        approval_list(user=user)
        .select_for_update(of=("self",))
        .select_related("order__cloud_account")
        .annotate(stages_waiting=Exists(_waiting_stages(OuterRef("pk"))))
        .get(pk=approval_id)
    )
    if approval.status != ApprovalStatus.PENDING:
        raise ValidationError(f"This order was already {approval.status}.")
    if not approve and approval.reject_needs_reason and not comment.strip():
        raise ValidationError(
            {"comment": [f"Policy {approval.policy_name} asks for a reason to reject: say why."]}
        )
    stage = approval.current_stage
    stage.request = approval  # the request and its order are loaded already
    allowed, on_behalf_of = stage_acting_for(user=user, stage=stage)
    if not allowed:
        raise PermissionDenied("You may not decide on this order.")
    ApprovalDecision.objects.create(
        stage=stage, user=user, on_behalf_of=on_behalf_of, approve=approve, comment=comment
    )
    who = f"{user} for {on_behalf_of}" if on_behalf_of else str(user)
    audit_record(
        action="approval.stage_decided",
        target=approval,
        actor=user,
        to_state=f"stage {stage.position} {'approved' if approve else 'rejected'}",
        message=f"{stage.name}: {'approved' if approve else 'rejected'} by {who}"
        + (f" (delegated by {on_behalf_of})" if on_behalf_of else "")
        + (f": {comment}" if comment else ""),
        order_id=approval.order_id,
    )
    _stage_conclude(approval, stage, approve=approve, actor=user, comment=comment)
    return approval


def _stage_conclude(
    approval: ApprovalRequest,
    stage: ApprovalStage,
    *,
    approve: bool,
    actor: AbstractUser | None,
    comment: str,
) -> None:
    if not approve:
        stage.reject()
        stage.save()
        _request_finish(approval, approve=False, actor=actor, message=comment)
        return
    if not _all_approved(stage):
        return  # an "all" stage waits for the others
    stage.approve()
    stage.save()
    approval.decided_by, approval.comment = actor, comment
    following = _next_stage(approval) if getattr(approval, "stages_waiting", True) else None
    if following is not None:
        _notify_requester(
            approval.order,
            f"{stage.name} approved",
            f"{stage.name} approved by {actor or approval.policy_name + ' policy'}; "
            "the next stage is open.",
        )
    _advance(approval, following)


def _all_approved(stage: ApprovalStage) -> bool:
    """Mode "any": one approval is enough. Mode "all": every approver approved (themselves or
    through a delegate)."""
    if stage.mode != "all":
        return True
    approved = stage.decisions.filter(approve=True)
    done = set(approved.values_list("user", flat=True)) | set(
        approved.values_list("on_behalf_of", flat=True)
    )
    return not stage.approvers.exclude(pk__in=done - {None}).exists()


# --- delegation ---------------------------------------------------------------------------------


@transaction.atomic
def delegation_create(
    *, delegator: AbstractUser, delegate: AbstractUser, starts_on: date, ends_on: date
) -> Delegation:
    if delegate.pk == delegator.pk:
        raise ValidationError({"delegate": ["Choose someone other than yourself."]})
    if ends_on < starts_on:
        raise ValidationError({"ends_on": ["The end must not be before the start."]})
    delegation = Delegation.objects.create(
        delegator=delegator, delegate=delegate, starts_on=starts_on, ends_on=ends_on
    )
    notify(
        user=delegate,
        subject=f"{delegator} delegated approvals to you",
        body=f"From {starts_on} to {ends_on} you can decide {delegator}'s approvals.",
        url=reverse("approvals:approval_list"),
    )
    return delegation


@transaction.atomic
def delegation_delete(*, user: AbstractUser, delegation_id: int) -> None:
    deleted, _ = Delegation.objects.filter(pk=delegation_id, delegator=user).delete()
    if not deleted:
        raise PermissionDenied("Only the person who delegated can withdraw a delegation.")


# --- escalation ---------------------------------------------------------------------------------


def approval_escalate_overdue(*, now=None) -> int:
    """Act on every stage pending past its SLA (one transaction each); returns how many."""
    now = now or timezone.now()
    overdue = ApprovalStage.objects.filter(status=StageStatus.PENDING, due_at__lt=now)
    return sum(stage_escalate(stage_id=pk, now=now) for pk in overdue.values_list("pk", flat=True))


@transaction.atomic
def stage_escalate(*, stage_id: int, now=None) -> bool:
    """Escalate, auto-approve or auto-reject one overdue stage, as its policy says; the decision
    is attributed to the policy (no user)."""
    now = now or timezone.now()
    stage = (
        ApprovalStage.objects.select_for_update(of=("self",))
        .select_related(
            "request__order__item", "request__order__project", "request__order__requester"
        )
        .filter(pk=stage_id, status=StageStatus.PENDING, due_at__lt=now)
        .first()
    )
    if stage is None:
        return False  # decided meanwhile
    approval = stage.request
    late = f"{stage.name} pending past its {stage.sla_hours} h SLA"
    if stage.on_timeout in (TimeoutAction.APPROVE, TimeoutAction.REJECT):
        approve = stage.on_timeout == TimeoutAction.APPROVE
        message = (
            f"{late}: policy {approval.policy_name} {'approved' if approve else 'rejected'} it."
        )
        ApprovalDecision.objects.create(stage=stage, approve=approve, comment=message)
        audit_record(
            action="approval.timeout",
            target=approval,
            to_state=f"stage {stage.position} {'approved' if approve else 'rejected'}",
            message=message,
            order_id=approval.order_id,
        )
        if approve:
            stage.approve()
            stage.save()
            approval.decided_by, approval.comment = None, message
            _advance(approval, _next_stage(approval))
        else:
            stage.reject()
            stage.save()
            _request_finish(approval, approve=False, actor=None, message=message)
        return True
    next_role = ESCALATION.get(stage.role)
    stage.escalations += 1
    if next_role is None:
        stage.due_at = None  # nobody above: keep waiting, say so once
        stage.save()
        message = f"{late}; there is no higher role to escalate to."
    else:
        previous = stage.get_role_display()
        stage.role = next_role
        stage.due_at = now + timedelta(hours=stage.sla_hours or 0)
        stage.save()
        added = _approvers_add(stage, role=next_role)
        message = (
            f"{late}: policy {approval.policy_name} escalated it from {previous} to "
            f"{stage.get_role_display()} ({_names(added) or 'nobody new'})."
        )
    audit_record(
        action="approval.escalated",
        target=approval,
        to_state=f"stage {stage.position} {stage.role}",
        message=message,
        order_id=approval.order_id,
    )
    return True


# --- reactions to lifecycle changes -------------------------------------------------------------


def approval_order_changed(*, order: Order, to_state: str) -> None:
    """Keep the ledger, the chain and the requester in step with the order's lifecycle."""
    if to_state == "completed" and order.is_change:
        _quota_commit_change(order)
        _notify_requester(order, "completed", f"Done: {order.summary}.")
    elif to_state == "completed":
        quota_commit_order(order=order)
        _notify_requester(order, "completed", "Your order is provisioned and ready.")
    elif to_state in ("rejected", "cancelled", "failed"):
        quota_release(order=order)
        if to_state == "cancelled":
            _approval_cancel(order=order)
        if to_state == "failed":
            _notify_requester(order, "failed", order.status_message or "Provisioning failed.")


def _approval_cancel(*, order: Order) -> None:
    approval = ApprovalRequest.objects.filter(order=order, status=ApprovalStatus.PENDING).first()
    if approval is None:
        return
    with audited_transition(
        approval, field="status", action="approval.cancelled", order_id=order.pk
    ):
        approval.cancel()
        approval.save()
    for stage in approval.stages.filter(status__in=[StageStatus.WAITING, StageStatus.PENDING]):
        stage.cancel()
        stage.save()


# --- configuration: policies and quotas ----------------------------------------------------------


@transaction.atomic
def policy_save(
    *, policy: ApprovalPolicy | None, fields: dict, stages: list[dict] | None
) -> ApprovalPolicy:
    """Create or update a policy; `stages` (when given) replaces its chain, in list order.
    Open requests keep the copy of the chain they started with."""
    policy = policy or ApprovalPolicy()
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    if stages is not None:
        policy.stages.all().delete()
        for position, stage in enumerate(stages, start=1):
            row = PolicyStage(policy=policy, position=position, **stage)
            row.full_clean()
            row.save()
    return policy


QUOTA_LIMITS = ["max_servers", "max_vcpus", "max_ram_gb", "max_storage_gb", "max_monthly_cost"]


def quota_can_change(*, user: AbstractUser, project: Project) -> bool:
    """Staff and the organization's admins set a project's quota."""
    return (
        user.is_staff
        or OrganizationMembership.objects.filter(
            user=user, organization_id=project.organization_id, role=OrganizationRole.ADMIN
        ).exists()
    )


@transaction.atomic
def quota_set(*, user: AbstractUser, project: Project, limits: dict) -> Quota:
    """Set some of a project's limits (None = unlimited). Lowering a limit below what is taken
    is allowed: it refuses new orders, it does not touch running resources."""
    if not quota_can_change(user=user, project=project):
        raise PermissionDenied("Only staff and organization admins set quotas.")
    unknown = set(limits) - set(QUOTA_LIMITS)
    if unknown:
        raise ValidationError({name: ["Not a quota limit."] for name in unknown})
    quota, _ = Quota.objects.select_for_update().get_or_create(project=project)
    for name, value in limits.items():
        setattr(quota, name, value)
    quota.full_clean()
    quota.save()
    audit_record(
        action="quota.changed",
        target=quota,
        actor=user,
        message=", ".join(f"{name}={value}" for name, value in limits.items()),
    )
    return quota
