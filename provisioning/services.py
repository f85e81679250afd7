"""Writes for provisioning: plan an order's resources, run provider steps, day-2 actions.

A step runs in three short parts so no transaction is open during a provider call: claim the
step (row lock), call the provider (idempotent: it looks for the object by Canopy's name first),
then record the outcome together with the external id.
"""

from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

import catalog.services as catalog_services
from catalog.models import Order, OrderStatus
from catalog.selectors import resolve_resources
from portal.selectors import user_has_project_perm
from portal.services import audited_transition
from provisioning.models import (
    TRANSITIONAL_STATES,
    Resource,
    ResourceState,
    Step,
    StepState,
)
from provisioning.providers import ProviderError, ServerInfo, get_adapter
from provisioning.selectors import cloud_account_for_project

MAX_ATTEMPTS = 5

# Day-2 action → the transition that starts it on the resource.
ACTIONS: dict[str, Callable[[Resource], Callable[[], None]]] = {
    Step.Action.STOP: lambda r: r.begin_stop,
    Step.Action.START: lambda r: r.begin_start,
    Step.Action.REBOOT: lambda r: r.begin_reboot,
    Step.Action.DESTROY: lambda r: r.begin_delete,
}


def _enqueue(step: Step) -> None:
    from provisioning.tasks import run_step  # tasks import services; import at call time

    transaction.on_commit(lambda: run_step.delay(step.pk))


def _resource_transition(
    resource: Resource,
    transition: Callable[[], None],
    *,
    actor: AbstractUser | None = None,
    message: str = "",
) -> None:
    with audited_transition(
        resource,
        field="state",
        action="resource.state",
        actor=actor,
        message=message,
        order_id=resource.order_id,
    ):
        transition()
        resource.state_changed_at = timezone.now()
        resource.status_message = message
        resource.save()


@transaction.atomic
def deployment_start(*, order: Order) -> list[Resource]:
    """Plan the approved order's resources and queue their create steps."""
    account = cloud_account_for_project(project=order.project)
    resources = []
    for spec in resolve_resources(item=order.item, parameters=order.parameters):
        resource = Resource.objects.create(
            order=order,
            project=order.project,
            cloud_account=account,
            kind=spec["kind"],
            name=spec["name"],
            properties=spec["properties"],
        )
        _enqueue(Step.objects.create(resource=resource, action=Step.Action.CREATE))
        resources.append(resource)
    catalog_services.order_transition(order=order, transition=order.start_provisioning)
    return resources


@transaction.atomic
def resource_action_request(*, user: AbstractUser, resource_id: int, action: str) -> Step:
    """A person asks to stop/start/reboot/destroy a resource; a worker carries it out."""
    resource = Resource.objects.select_for_update().select_related("project").get(pk=resource_id)
    if not user_has_project_perm(user=user, project=resource.project, perm="order_in_project"):
        raise PermissionDenied("You may not change this resource.")
    if action not in ACTIONS:
        raise ValidationError({"action": [f"Unknown action {action!r}."]})
    transition = ACTIONS[action](resource)
    if not can_proceed(transition):
        raise ValidationError({"action": [f"Cannot {action} a resource that is {resource.state}."]})
    _resource_transition(resource, transition, actor=user, message=f"{action} requested")
    step = Step.objects.create(resource=resource, action=action)
    _enqueue(step)
    return step


def _claim(step_id: int) -> Step | None:
    with transaction.atomic():
        step = (
            Step.objects.select_for_update()
            .select_related("resource__cloud_account")
            .filter(pk=step_id)
            .first()
        )
        if step is None or step.state not in (StepState.PENDING, StepState.RUNNING):
            return None  # unknown or already finished: a duplicate delivery
        step.begin()
        step.started_at = step.started_at or timezone.now()
        step.save()
        resource = step.resource
        if step.action == Step.Action.CREATE and resource.state == ResourceState.PLANNED:
            _resource_transition(resource, resource.begin_provisioning)
        return step


def _call_provider(step: Step) -> ServerInfo | None:
    resource = step.resource
    adapter = get_adapter(resource.cloud_account)
    match step.action:
        case Step.Action.CREATE:
            return adapter.ensure_server(
                name=resource.canopy_tag, size=str(resource.properties.get("size", ""))
            )
        case Step.Action.START:
            return adapter.start_server(resource.external_id)
        case Step.Action.STOP:
            return adapter.stop_server(resource.external_id)
        case Step.Action.REBOOT:
            return adapter.reboot_server(resource.external_id)
        case Step.Action.DESTROY:
            if resource.external_id:
                adapter.destroy_server(resource.external_id)
            return None
    raise ValueError(step.action)


@transaction.atomic
def _record_success(step_id: int, info: ServerInfo | None) -> None:
    step = Step.objects.select_for_update().select_related("resource").get(pk=step_id)
    resource = Resource.objects.select_for_update().get(pk=step.resource_id)
    if info is not None:
        resource.external_id = info.external_id
        resource.public_ips = info.public_ips
        resource.private_ips = info.private_ips
    done = {
        Step.Action.CREATE: resource.mark_active,
        Step.Action.START: resource.mark_active,
        Step.Action.REBOOT: resource.mark_active,
        Step.Action.STOP: resource.mark_stopped,
        Step.Action.DESTROY: resource.mark_deleted,
    }[step.action]
    _resource_transition(resource, done)
    step.finish()
    step.finished_at = timezone.now()
    step.save()
    if step.action == Step.Action.CREATE:
        _order_progress(order_id=resource.order_id)


@transaction.atomic
def _record_failure(step_id: int, message: str) -> None:
    step = Step.objects.select_for_update().select_related("resource").get(pk=step_id)
    step.fail()
    step.last_error = message
    step.finished_at = timezone.now()
    step.save()
    resource = Resource.objects.select_for_update().get(pk=step.resource_id)
    _resource_transition(resource, resource.mark_error, message=message)
    if step.action == Step.Action.CREATE:
        order = Order.objects.select_for_update().get(pk=resource.order_id)
        if order.status == OrderStatus.PROVISIONING:
            catalog_services.order_transition(order=order, transition=order.fail, message=message)
        _compensate(order=order)


def _compensate(*, order: Order) -> None:
    """Delete whatever this order already created, so no cloud object is left behind."""
    for resource in (
        Resource.objects.select_for_update()
        .filter(
            order=order,
            state__in=[ResourceState.ACTIVE, ResourceState.STOPPED, ResourceState.ERROR],
        )
        .exclude(external_id="")
    ):
        _resource_transition(resource, resource.begin_delete, message="rolling back failed order")
        _enqueue(Step.objects.create(resource=resource, action=Step.Action.DESTROY))


def _order_progress(*, order_id: int) -> None:
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status != OrderStatus.PROVISIONING:
        return
    if not order.resources.exclude(state=ResourceState.ACTIVE).exists():
        catalog_services.order_transition(order=order, transition=order.complete)


class TransientProviderError(Exception):
    """Raised to the task so Celery retries the step later with backoff."""


def step_execute(*, step_id: int) -> None:
    """Run one step; safe to call any number of times for the same step."""
    step = _claim(step_id)
    if step is None:
        return
    try:
        info = _call_provider(step)
    except ProviderError as error:
        if error.transient and step.attempts < MAX_ATTEMPTS:
            with transaction.atomic():
                Step.objects.filter(pk=step_id).update(last_error=str(error))
            raise TransientProviderError(str(error)) from error
        _record_failure(step_id, str(error))
        return
    _record_success(step_id, info)


@transaction.atomic
def reconcile_stuck(*, now: datetime | None = None) -> int:
    """Move resources stuck in a transitional state past the timeout to `error`."""
    deadline = (now or timezone.now()) - settings.CANOPY_TRANSITION_TIMEOUT
    stuck = Resource.objects.select_for_update().filter(
        state__in=TRANSITIONAL_STATES, state_changed_at__lt=deadline
    )
    count = 0
    for resource in stuck:
        _resource_transition(
            resource,
            resource.mark_error,
            message=f"stuck in {resource.state} for more than {settings.CANOPY_TRANSITION_TIMEOUT}",
        )
        count += 1
    return count
