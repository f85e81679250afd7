"""The order's lifecycle: the one module that moves an `Order` from state to state.

Each transition is a named verb. Approvals and provisioning never move an order themselves:
they announce what happened (`approvals.signals`, `provisioning.signals`) and
`catalog.receivers` calls the verb here. Approving records the decision and returns; the
deployment is planned by a worker (`order_deploy`, queued once the approval commits; beat's
`orders_deploy_overdue` starts an approved order whose message was lost).
"""

from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

import provisioning.services as provisioning_services
from catalog.models import Order, OrderStatus
from portal.services import audited_transition
from provisioning.models import Deployment

# An order approved this long ago without a deployment lost its deploy message (the broker was
# down when the approval committed, or a worker died holding it): beat starts it.
DEPLOY_OVERDUE = timedelta(minutes=2)


def _transition(
    order: Order,
    transition: Callable[[], None],
    *,
    actor: AbstractUser | None = None,
    message: str = "",
) -> Order:
    """Apply one lifecycle transition to the order and write it to the audit trail."""
    with audited_transition(
        order,
        field="status",
        action="order.status",
        actor=actor,
        message=message,
        order_id=order.pk,
    ):
        transition()
        if message:
            order.status_message = message
        order.save(update_fields=["status", "status_message", "updated_at"])
    return order


def order_admitted(*, order: Order) -> Order:
    """Admission found room for the order: it waits for its approval chain."""
    return _transition(order, order.await_approval)


def order_refused(*, order: Order, message: str) -> Order:
    """Admission refused the order (a quota or budget it does not fit)."""
    return _transition(order, order.reject, message=message)


def order_approved(*, order: Order, actor: AbstractUser | None, message: str) -> Order:
    """The last stage approved: the deployment is planned by a worker once this commits."""
    _transition(order, order.approve, actor=actor, message=message)
    order_deploy_enqueue(order_id=order.pk)
    return order


def order_rejected(*, order: Order, actor: AbstractUser | None, message: str) -> Order:
    return _transition(order, order.reject, actor=actor, message=message)


def order_provisioning_started(*, order: Order) -> Order:
    return _transition(order, order.start_provisioning)


@transaction.atomic
def order_completed(*, order_id: int) -> Order | None:
    """The create deployment succeeded (a late report for an order that is no longer
    provisioning is ignored)."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status != OrderStatus.PROVISIONING:
        return None
    return _transition(order, order.complete)


@transaction.atomic
def order_failed(*, order_id: int, message: str) -> Order | None:
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status not in (OrderStatus.APPROVED, OrderStatus.PROVISIONING):
        return None
    return _transition(order, order.fail, message=message)


@transaction.atomic
def order_cancel(*, user: AbstractUser, order_id: int) -> Order:
    """The requester withdraws an order that has not started provisioning.

    Approvals react to the change (close the request, release the quota) through
    `portal.signals.lifecycle_changed`.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.requester_id != user.pk:
        raise PermissionDenied("Only the requester may cancel this order.")
    if not order.can_cancel:
        raise ValidationError({"status": [f"An order that is {order.status} cannot be cancelled."]})
    return _transition(order, order.cancel, actor=user, message="cancelled by the requester")


# --- deploying an approved order ----------------------------------------------------------------


def order_deploy_enqueue(*, order_id: int) -> None:
    """Queue the deployment once the approval commits; a broker that is down does not fail the
    decision (it is saved): beat's `orders_deploy_overdue` starts the order later."""
    from catalog.tasks import deploy_order  # tasks import this module; import at call time

    transaction.on_commit(lambda: deploy_order.delay(order_id), robust=True)


@transaction.atomic
def order_deploy(*, order_id: int) -> Deployment | None:
    """Start the approved order's deployment from its pinned plan (run by a worker).

    Idempotent: an order that is no longer approved, or already has a deployment, is left alone
    (the order's row lock keeps a late message and beat's sweep from both starting it).
    """
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("project", "cloud_account")
        .filter(pk=order_id, status=OrderStatus.APPROVED)
        .first()
    )
    if order is None or order.deployments.exists():
        return None
    return provisioning_services.deployment_start(order=order)


def orders_deploy_overdue(*, now=None) -> int:
    """Start the orders approved past DEPLOY_OVERDUE that have no deployment; returns how many."""
    now = now or timezone.now()
    overdue = (
        Order.objects.filter(status=OrderStatus.APPROVED, updated_at__lt=now - DEPLOY_OVERDUE)
        .exclude(Exists(Deployment.objects.filter(order=OuterRef("pk"))))
        .order_by("id")
    )
    return sum(order_deploy(order_id=pk) is not None for pk in overdue.values_list("pk", flat=True))
