"""The order's lifecycle: the one module that moves an `Order` from state to state.

Each transition is a named verb. Approvals and provisioning never move an order themselves:
they announce what happened (`approvals.signals`, `provisioning.signals`) and
`catalog.receivers` calls the verb here. Approving records the decision and returns; the
deployment is planned by a worker (`order_deploy`, queued once the approval commits; every
worker's sweep, `orders_deploy_overdue`, starts an approved order whose message was lost).
"""

from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

import provisioning.services as provisioning_services
from approvals.services.admission import order_admission
from catalog.models import ChangeAction, Order, OrderStatus
from core.outbox import PUBLISH_RETRY, outbox_enqueue
from core.services import audited_transition
from provisioning.models import Deployment

# An order approved this long ago without a deployment lost its deploy message (the broker was
# down when the approval committed, or a worker died holding it): the workers' sweep
# (`portal.worker_sweeps`) starts it.
DEPLOY_OVERDUE = timedelta(seconds=10)


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
    `core.signals.lifecycle_changed`.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.requester_id != user.pk:
        raise PermissionDenied("Only the requester may cancel this order.")
    if not order.can_cancel:
        raise ValidationError({"status": [f"An order that is {order.status} cannot be cancelled."]})
    return _transition(order, order.cancel, actor=user, message="cancelled by the requester")


@transaction.atomic
def order_destroy(*, user: AbstractUser | None, order_id: int) -> Deployment:
    """Delete every resource of the order: the create saga in reverse (`user` None: a policy,
    such as an expired lease). The order's row lock keeps two requests from both starting it."""
    order = Order.objects.select_for_update().select_related("project").get(pk=order_id)
    return provisioning_services.order_resources_destroy(user=user, order=order)


# --- admission ----------------------------------------------------------------------------------


# An order still `submitted` this long after it was saved has lost its admission (its process
# died between the commit and the outbox, or a worker died holding the message): beat admits
# it (`orders_admit_overdue`). A broker down at commit time is the outbox's business.
ADMISSION_OVERDUE = timedelta(minutes=2)
# Set while an `admit_submitted` task is queued; orders submitted meanwhile publish nothing. The
# TTL bounds how long a flag whose task was lost stops others from publishing.
ADMISSION_FLAG = "catalog:admission-queued"
ADMISSION_FLAG_TTL = 60  # seconds


def order_admission_enqueue(*, order: Order) -> None:
    """Queue the admission of an order just submitted, once the transaction commits, so the
    worker always finds the row. A burst of orders shares one message: see `orders_admit_submitted`.
    The message goes through the outbox: a broker that is down delays the admission until it
    answers again (seconds), and never fails the submission; a cache that is down only stops
    the sharing (every order then sends its own message)."""
    transaction.on_commit(_admission_publish, robust=True)


def _admission_publish() -> None:
    # A cache that is down answers `add` as if it stored the flag: every order publishes.
    if cache.add(ADMISSION_FLAG, True, ADMISSION_FLAG_TTL):
        outbox_enqueue("catalog.tasks.admit_submitted", [[]])


def orders_admit_submitted() -> int:
    """Admit every order still submitted, oldest first, one transaction each (`order_admit`);
    returns how many this call admitted. Run by `catalog.tasks.admit_submitted`.

    Why no order is left waiting: an order commits before its `_admission_publish` adds the
    flag, and this function deletes the flag before it scans. If the add finds no flag, the
    order publishes a task whose scan comes after its commit. If it finds the flag, the task
    that set it has not deleted it yet, so that task's scan starts after the add, hence after
    the commit. A flag whose task was lost expires after ADMISSION_FLAG_TTL, and beat's
    `orders_admit_overdue` admits what it held back. The file cache of the embedded mode does
    not add atomically across processes: two orders may then both publish; the second task
    finds nothing left to do (`order_admit` is idempotent and locks the order row).
    """
    cache.delete(ADMISSION_FLAG)
    pending = Order.objects.filter(status=OrderStatus.SUBMITTED).order_by("id")
    return sum(order_admit(order_id=pk) is not None for pk in pending.values_list("pk", flat=True))


def orders_admit_overdue(*, now=None) -> int:
    """Admit the orders still submitted past ADMISSION_OVERDUE, one transaction each; returns
    how many this call admitted (a queued message for one of them then finds nothing to do)."""
    now = now or timezone.now()
    overdue = Order.objects.filter(
        status=OrderStatus.SUBMITTED, created_at__lt=now - ADMISSION_OVERDUE
    ).order_by("id")
    return sum(order_admit(order_id=pk) is not None for pk in overdue.values_list("pk", flat=True))


@transaction.atomic
def order_admit(*, order_id: int) -> Order | None:
    """Admission of a submitted order, run by the worker (`catalog.tasks.admit_submitted`) once
    `order_submit` committed: the order's row is locked and approvals admits it
    (`approvals.services.admission.order_admission`), announcing the outcome the receivers act on.

    Idempotent: an order that is no longer submitted (admitted by an earlier delivery of the
    task, cancelled meanwhile) is left alone and None is returned.
    """
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("item", "project", "requester", "cloud_account")
        .filter(pk=order_id, status=OrderStatus.SUBMITTED)
        .first()
    )
    if order is None:
        return None
    order_admission(order=order)
    return order


# --- deploying an approved order ----------------------------------------------------------------


def order_deploy_enqueue(*, order_id: int) -> None:
    """Queue the deployment once the approval commits; a broker that is down does not fail the
    decision (it is saved): the workers' sweep (`orders_deploy_overdue`) starts the order."""
    # Published directly (one quick retry at most) rather than through the outbox, whose row
    # and relay would cost the approve request five statements: the approved order is itself
    # the record of the work, and every worker's sweep (`orders_deploy_overdue`) starts what a
    # lost message left approved.
    transaction.on_commit(
        lambda: current_app.send_task(
            "catalog.tasks.deploy_order", [order_id], retry_policy=PUBLISH_RETRY
        ),
        robust=True,
    )


@transaction.atomic
def order_deploy(*, order_id: int) -> Deployment | None:
    """Start the approved order's deployment from its pinned plan (run by a worker).

    Idempotent: an order that is no longer approved, or already has a deployment, is left alone
    (the order's row lock keeps a late message and the workers' sweep from both starting it).
    """
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("project", "cloud_account")
        .filter(pk=order_id, status=OrderStatus.APPROVED)
        .first()
    )
    if order is None:
        return None
    if order.is_change:
        return None if order.change_deployments.exists() else _change_start(order)
    if order.deployments.exists():
        return None
    return provisioning_services.deployment_start(order=order)


def _change_start(order: Order) -> Deployment | None:
    """Carry out an approved change order with the ordinary day-2 or destroy saga, whose
    deployment ends the order (`provisioning.signals.change_deployment_finished`). A change the
    resource can no longer take (it was deleted meanwhile) fails the order with the reason; new
    bounds and a lease extension have nothing to provision and complete at once."""
    try:
        if order.action == ChangeAction.SET_BOUNDS:
            provisioning_services.bounds_set(order=order)
            deployment = None
        elif order.resource_id is not None:
            step = provisioning_services.resource_action_request(
                user=None,
                resource_id=order.resource_id,
                action=order.action,
                params=order.parameters,
                reason=f"order #{order.pk} approved",
                change_order=order,
            )
            deployment = step.deployment
        elif order.action == ChangeAction.DESTROY:
            target = Order.objects.select_for_update().get(pk=order.changes_order_id)
            deployment = provisioning_services.order_resources_destroy(
                user=None, order=target, change_order=order
            )
        else:
            deployment = None
    except ValidationError as error:
        _transition(order, order.fail, message=" ".join(error.messages))
        return None
    _transition(order, order.start_provisioning)
    if deployment is None:
        _transition(order, order.complete)
    return deployment


def orders_deploy_overdue(*, now=None) -> int:
    """Start the orders approved past DEPLOY_OVERDUE that have no deployment; returns how many."""
    now = now or timezone.now()
    overdue = (
        Order.objects.filter(status=OrderStatus.APPROVED, updated_at__lt=now - DEPLOY_OVERDUE)
        .exclude(Exists(Deployment.objects.filter(order=OuterRef("pk"))))
        .exclude(Exists(Deployment.objects.filter(change_order=OuterRef("pk"))))
        .order_by("id")
    )
    return sum(order_deploy(order_id=pk) is not None for pk in overdue.values_list("pk", flat=True))
