"""Leases: opened when an order completes, extended (beyond the item's maximum as a
change order), warned, retired into a grace period, unretired or deleted."""

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

import catalog.services as catalog_services
import provisioning.services as provisioning_services
from catalog.models import ChangeAction, Order, OrderStatus
from catalog.orders import order_destroy
from core.models import Project
from core.selectors import user_has_project_perm
from core.services import audit_record, audited_transition, notify
from lifecycle.models import Lease, LeaseState, Saving
from lifecycle.selectors.leases import WARNING_DAYS, lease_limit
from lifecycle.services.notices import act_url, moment_text, order_url
from lifecycle.services.savings import savings_start
from provisioning.models import Resource, ResourceState

logger = logging.getLogger(__name__)
R = ResourceState
# The most days one extension may add.
MAX_EXTENSION_DAYS = 3650


# A resource in one of these states is gone: nothing to retire, reclaim or delete.
GONE = (R.DELETED, R.MISSING)


def grace_period() -> timedelta:
    return timedelta(days=settings.CANOPY_LEASE_GRACE_DAYS)


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
            message=f"expires {moment_text(lease.expires_at)}",
            order_id=order.pk,
        )
    return lease


def _lease_locked(lease_id: int) -> Lease:
    return (
        Lease.objects.select_for_update(of=("self",))
        .select_related("order__item", "order__project", "order__requester")
        .get(pk=lease_id)
    )


def project_perm_check(user: AbstractUser, project: Project, perm: str) -> None:
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
        message=f"{moment_text(before)} → {moment_text(expires_at)}"
        + (f": {message}" if message else ""),
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
    project_perm_check(user, lease.order.project, "order_in_project")
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
            {"reason": [f"Say why the lease must go beyond its maximum ({moment_text(limit)})."]}
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
    project_perm_check(user, project, "order_in_project")
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
    _lease_transition(
        lease, lease.unretire, actor=user, message=f"expires {moment_text(expires_at)}"
    )
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
        subject=f"Order #{order.pk} ({order.item.name}) expires {moment_text(lease.expires_at)}",
        body=(
            f"The lease of {order.item.name} in {order.project.name} runs out in "
            f"{left.days} day(s) {left.seconds // 3600} hour(s). Then its servers are stopped and, "
            f"after {grace_period().days} day(s), everything is deleted. Extend it from a "
            f"resource page of the order or from Leases."
        ),
        url=act_url(top.pk) if (top := _top_resource(order.pk)) else order_url(order.pk),
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
    reason = f"lease expired; deleted on {moment_text(lease.delete_at)} unless unretired"
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
    savings_start(resources=stopped, source=Saving.Source.LEASE, action="stop", now=now)
    message = reason + (f" (not stopped: {'; '.join(skipped)})" if skipped else "")
    _lease_transition(lease, lease.retire, message=message)
    order = lease.order
    notify(
        user=order.requester,
        subject=f"Order #{order.pk} ({order.item.name}) retired: its lease expired",
        body=(
            f"Its servers were stopped. Everything is deleted on {moment_text(lease.delete_at)}; "
            f"until then, unretire it from a resource page of the order or from Leases."
        ),
        url=order_url(order.pk),
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
        savings_start(resources=resources, source=Saving.Source.LEASE, action="delete", now=now)
    _lease_transition(lease, lease.mark_deleted, message="grace period over")
    order = lease.order
    notify(
        user=order.requester,
        subject=f"Order #{order.pk} ({order.item.name}) deleted: its lease ran out",
        body="Its grace period ended without an unretire, so its resources are being deleted.",
        url=order_url(order.pk),
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
