"""The provisioning saga: a deployment started over an order's resources, its graph of steps
run by workers, and its compensation when a step fails for good.

A deployment is a dependency graph of steps (`planning`). Every step without pending
dependencies is queued to the provider queue at once, in chunks spread over the workers (they
run in parallel); when steps finish, the steps that only waited for them are queued. A chunk
runs in three short parts so no transaction is open during a provider call: claim its steps
(one UPDATE), call the provider for each (idempotent: `ensure` finds the object by Canopy's name
first, a delete looks the object up by name when its id was never recorded), then record the
outcomes of all in one transaction; a step that fails ends alone. A permanent failure of a
create deployment cancels what has not started, waits for what is running, then deletes
everything the order has in reverse dependency order. A step's worker holds a lease on it,
renewed while it works: a step whose worker vanished is taken over (`steps_resume`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_fsm import can_proceed

from core.db import UNAVAILABLE_ERRORS
from core.outbox import outbox_enqueue
from core.selectors import user_has_project_perm
from provisioning.models import (
    TRANSITIONAL_STATES,
    Deployment,
    DeploymentState,
    Resource,
    ResourceEvent,
    ResourceState,
    Step,
    StepState,
)
from provisioning.providers import CloudObject, ProviderError, get_adapter
from provisioning.selectors import COMPOSITE_KINDS, cloud_account_for_order, plan_unavailable
from provisioning.services import bindings
from provisioning.services.accounts import account_options_refresh
from provisioning.services.planning import plan_create, plan_destroy
from provisioning.services.transitions import (
    deployment_transition,
    resource_event,
    resource_transition,
    resources_transition,
    save_rows,
)
from provisioning.signals import deployment_failed, deployment_started, deployment_succeeded

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 20
# A running step whose worker has not been heard of for this long lost its worker: the workers'
# sweep (every 10 s) queues it again, so a dead worker's steps are taken over within 45 s.
STEP_LEASE = timedelta(seconds=30)
# A worker busy with a chunk renews its steps' lease this often (seconds), whatever its
# provider calls take.
HEARTBEAT = STEP_LEASE.total_seconds() / 6
R = ResourceState
A = Step.Action
# Updates of one resource that a provider may refuse, leaving the object as it was.
REFUSABLE_UPDATES = {A.RESIZE, A.EXTEND, A.SNAPSHOT}


class TransientProviderError(Exception):
    """Raised by `step_execute` when the step is to be retried later (with backoff)."""


# --- queueing steps ----------------------------------------------------------------------
def _chunks(ids: list[int]) -> list[list[int]]:
    """Split ready steps into tasks: at most CANOPY_STEP_BATCH steps each, since a worker records
    a whole chunk in one transaction, yet never fewer than CANOPY_STEP_SPREAD tasks (when there
    are that many steps), so that a few slow provider calls still run on several workers."""
    batch, spread = settings.CANOPY_STEP_BATCH, settings.CANOPY_STEP_SPREAD
    count = max(-(-len(ids) // batch), min(len(ids), spread))
    return [ids[i::count] for i in range(count)]


def enqueue(steps: Iterable[Step]) -> None:
    """Hand the steps to the workers once this transaction commits, in chunks of one deployment
    (a chunk's results are recorded under its deployment's lock). A resource that a create step
    is about to build is `provisioning` from now on: the transition happens here for the whole
    batch (one UPDATE, one audit INSERT) rather than in every worker."""
    steps = list(steps)
    if not steps:
        return
    Step.objects.filter(pk__in=[step.pk for step in steps]).update(queued_at=timezone.now())
    creates = [step.resource_id for step in steps if step.action == A.CREATE]
    resources_transition(
        list(Resource.objects.select_for_update().filter(pk__in=creates, state=R.PLANNED)),
        lambda r: r.begin_provisioning,
    )
    by_deployment: dict[int | None, list[int]] = {}
    for step in steps:
        by_deployment.setdefault(step.deployment_id, []).append(step.pk)
    chunks = [chunk for ids in by_deployment.values() for chunk in _chunks(ids)]
    steps_enqueue(chunks)


@transaction.atomic
def step_retry_later(*, step: Step, countdown: float) -> None:
    """Run a step that a transient error left running again in `countdown` seconds. Its lease
    covers the wait, so the lost-steps sweep does not take it for a dead worker's meanwhile."""
    due = timezone.now() + timedelta(seconds=countdown)
    Step.objects.filter(pk=step.pk, state=StepState.RUNNING).update(heartbeat_at=due)
    steps_enqueue([[step.pk]], countdown=countdown)


def steps_enqueue(chunks: list[list[int]], *, countdown: float = 0) -> None:
    """Run each chunk of steps on a worker once the transaction commits; through the outbox, so
    a broker that is down at that moment delays the steps but never loses them."""
    calls = [[chunk] for chunk in chunks]
    outbox_enqueue("provisioning.tasks.run_steps", calls, countdown=countdown)


def check_perm(user: AbstractUser | None, resource_or_order: Resource | Order) -> None:
    """`user` None is Canopy itself acting on a policy (lease, reclaim, autoscaling)."""
    if user is not None and not user_has_project_perm(
        user=user, project=resource_or_order.project, perm="order_in_project"
    ):
        raise PermissionDenied("You may not change this.")


# --- starting a deployment ----------------------------------------------------------------
@transaction.atomic
def deployment_start(*, order: Order) -> Deployment | None:
    """Plan the approved order's pinned resources as a graph and queue the steps that can start.

    The plan is the one pinned at submit, never the catalog item as it is now. When the account
    no longer offers what the plan names (a size, an image, a location), nothing is created and
    the failure is announced with the reason (`provisioning.signals.deployment_failed`).
    """
    account = cloud_account_for_order(order=order)
    problem = plan_unavailable(account=account, resources=order.planned_resources)
    if problem:
        deployment_failed.send(sender=Deployment, order_id=order.pk, message=problem)
        return None
    deployment = Deployment.objects.create(
        order=order, cloud_account=account, direction=Deployment.Direction.CREATE
    )
    plan_create(deployment, order.planned_resources)
    deployment_started.send(sender=Deployment, order=order)
    advance(deployment.pk)
    return deployment


def _running_deployment(order: Order) -> bool:
    return order.deployments.filter(
        state__in=[DeploymentState.RUNNING, DeploymentState.COMPENSATING]
    ).exists()


def destroy_deployment(order: Order, resources: list[Resource], **fields: Any) -> Deployment:
    deployment = Deployment.objects.create(
        order=order,
        cloud_account=resources[0].cloud_account,
        direction=Deployment.Direction.DESTROY,
        **fields,
    )
    plan_destroy(deployment, resources)
    advance(deployment.pk)
    return deployment


@transaction.atomic
def order_resources_destroy(
    *, user: AbstractUser | None, order: Order, change_order: Order | None = None
) -> Deployment:
    """Delete every resource of the order (locked by its owner, `catalog.orders.order_destroy`):
    the create saga in reverse (`user` None: a policy, or the approved destroy order
    `change_order`)."""
    check_perm(user, order)
    if _running_deployment(order):
        raise ValidationError({"order": ["The order's resources are still being changed."]})
    resources = list(
        Resource.objects.select_for_update().filter(order=order).exclude(state=R.DELETED)
    )
    if not resources:
        raise ValidationError({"order": ["The order has no resources left to delete."]})
    busy = [r.name for r in resources if r.state in TRANSITIONAL_STATES]
    if busy:
        raise ValidationError({"order": [f"Wait for {', '.join(busy)} to finish changing."]})
    observed = [r.name for r in resources if r.observe_only]
    if observed:
        raise ValidationError(
            {"order": [f"{', '.join(observed)}: adopted to be observed only, Canopy deletes none."]}
        )
    return destroy_deployment(order, resources, change_order=change_order)


# --- running the graph --------------------------------------------------------------------
def advance(deployment_id: int, finished: list[Step] | None = None) -> None:
    """Queue the steps that became ready; close the deployment when every step is done.

    Runs under the deployment's row lock, so two dependencies finishing at once queue their
    common dependent exactly once. `finished` comes from `_record_successes`, annotated with
    `waited_on`: steps nothing waits for make nothing ready.
    """
    deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
    if deployment.state == DeploymentState.COMPENSATING:
        _maybe_compensate(deployment)
        return
    if deployment.state != DeploymentState.RUNNING:
        return
    awaited = [step.pk for step in finished or [] if step.waited_on]
    if finished is None or awaited:
        # Dependencies may be steps of an earlier deployment (a scale-out's network).
        through = Step.depends_on.through.objects
        candidates = (
            Step.objects.filter(pk__in=through.filter(to_step__in=awaited).values("from_step"))
            if finished
            else deployment.steps.all()
        ).filter(state=StepState.PENDING, queued_at=None)
        unfinished = through.filter(from_step=OuterRef("pk")).exclude(to_step__state=StepState.DONE)
        enqueue(candidates.exclude(Exists(unfinished)))
    if not deployment.steps.exclude(state=StepState.DONE).exists():
        _deployment_succeeded(deployment)


def _deployment_succeeded(deployment: Deployment) -> None:
    deployment_transition(deployment, deployment.succeed)
    if deployment.direction == Deployment.Direction.CREATE:
        deployment_succeeded.send(sender=Deployment, order_id=deployment.order_id)
    elif deployment.compensates_id:
        failed = Deployment.objects.select_for_update().get(pk=deployment.compensates_id)
        deployment_transition(failed, failed.fail, message=failed.message)


def _deployment_failed(deployment_id: int, message: str) -> None:
    deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
    if deployment.state != DeploymentState.RUNNING:
        _maybe_compensate(deployment)
        return
    deployment.steps.filter(state=StepState.PENDING).update(state=StepState.CANCELLED)
    if deployment.direction != Deployment.Direction.CREATE:
        deployment_transition(deployment, deployment.fail, message=message)
        if deployment.compensates_id:
            failed = Deployment.objects.select_for_update().get(pk=deployment.compensates_id)
            deployment_transition(failed, failed.fail, message=f"{failed.message}; {message}")
        return
    deployment_transition(deployment, deployment.compensate, message=message)
    deployment_failed.send(sender=Deployment, order_id=deployment.order_id, message=message)
    _maybe_compensate(deployment)


def _maybe_compensate(deployment: Deployment) -> None:
    """Once nothing of the failed deployment runs any more, delete what the order has."""
    if (
        deployment.state != DeploymentState.COMPENSATING
        or deployment.steps.filter(state=StepState.RUNNING).exists()
        or deployment.compensations.exists()
    ):
        return
    resources = list(
        Resource.objects.select_for_update()
        .filter(order_id=deployment.order_id)
        .exclude(state=R.DELETED)
    )
    if not resources:
        deployment_transition(deployment, deployment.fail, message=deployment.message)
        return
    destroy_deployment(deployment.order, resources, compensates=deployment)


# --- one chunk of steps -------------------------------------------------------------------
def _claim(step_ids: list[int]) -> list[Step]:
    """Mark the chunk's steps that are still to run `running` with one UPDATE (their resources
    went `provisioning` when they were queued), then read what the provider calls need: each
    resource, its account, and whether the step has dependencies at all (`waits`), so a step
    without any reads none. Running steps are claimable again: a step whose worker died is
    re-delivered while still running."""
    now = timezone.now()
    Step.objects.filter(pk__in=step_ids, state__in=[StepState.PENDING, StepState.RUNNING]).update(
        state=StepState.RUNNING,
        attempts=F("attempts") + 1,
        started_at=Coalesce("started_at", Value(now)),
        heartbeat_at=now,
    )
    # The rows this UPDATE claimed: a duplicate delivery claiming them since then takes over.
    return list(
        Step.objects.select_related("resource__cloud_account")
        .annotate(waits=Exists(Step.depends_on.through.objects.filter(from_step=OuterRef("pk"))))
        .filter(pk__in=step_ids, state=StepState.RUNNING, heartbeat_at=now)
        .order_by("pk")
    )


def provider_call(step: Step) -> CloudObject | None:
    """The one call a step makes to its provider (or none, for a composite resource): the seam
    where the saga meets the cloud, and where tests inject the provider's faults."""
    resource = step.resource
    if resource.kind in COMPOSITE_KINDS:
        return bindings.composite_object(step)
    adapter = get_adapter(resource.cloud_account)
    match step.action:
        case A.CREATE:
            return adapter.ensure(resource.kind, resource.canopy_tag, bindings.concrete(step))
        case A.DESTROY:
            # The id is unknown when the create's worker died before recording it.
            found = (
                None if resource.external_id else adapter.find(resource.kind, resource.canopy_tag)
            )
            external_id = resource.external_id or (found.external_id if found else "")
            if external_id:
                adapter.delete(resource.kind, external_id)
            return None
        case A.SET_MEMBERS if "members" not in step.params:
            # Scaling: the group's servers active when the step runs.
            params = {"members": bindings.balancer_members(resource)}
            return adapter.act(resource.kind, resource.external_id, step.action, params)
    obj = adapter.act(resource.kind, resource.external_id, step.action, step.params)
    if step.action == A.SNAPSHOT and resource.kind == "server":
        account_options_refresh(account_id=resource.cloud_account_id)  # offer it as an image
    return obj


def _apply(resource: Resource, obj: CloudObject) -> None:
    resource.external_id = obj.external_id or resource.external_id
    # Snapshots are listed when one is taken; other answers leave them as they were.
    attributes = {"snapshots": resource.attributes.get("snapshots", []), **obj.attributes}
    if not attributes["snapshots"]:
        del attributes["snapshots"]
    resource.public_ips = attributes.pop("public_ips", resource.public_ips)
    resource.private_ips = attributes.pop("private_ips", resource.private_ips)
    resource.attributes = attributes


# Action → (resource transition, ResourceEvent kind or "", properties it changes).
OUTCOMES: dict[str, tuple[Callable[[Resource], Callable[[], None]], str, tuple[str, ...]]] = {
    A.CREATE: (lambda r: r.mark_active, ResourceEvent.Kind.CREATED, ()),
    A.START: (lambda r: r.mark_active, ResourceEvent.Kind.STARTED, ()),
    A.REBOOT: (lambda r: r.mark_active, "", ()),
    A.STOP: (lambda r: r.mark_stopped, ResourceEvent.Kind.STOPPED, ()),
    A.RESIZE: (lambda r: r.finish_update, ResourceEvent.Kind.RESIZED, ("size",)),
    A.EXTEND: (lambda r: r.finish_update, ResourceEvent.Kind.RESIZED, ("size_gb",)),
    A.SNAPSHOT: (lambda r: r.finish_update, "", ()),
    A.SET_MEMBERS: (lambda r: r.finish_update, "", ()),
    A.SET_DESIRED: (lambda r: r.finish_update, "", ("desired",)),
    A.DESTROY: (lambda r: r.mark_deleted, ResourceEvent.Kind.DELETED, ()),
}


RESULT_FIELDS = ("external_id", "public_ips", "private_ips", "attributes", "properties")


@transaction.atomic
def _record_successes(results: dict[int, CloudObject | None]) -> list[tuple[Step, Exception]]:
    """Record the objects of a chunk's steps and advance the saga in one transaction, writing
    each table once whatever the chunk's size: the steps and their resources are read and
    locked with one query, annotated with whether any step waits for each. Returns the steps
    whose result could not be applied, with the error."""
    steps = list(
        Step.objects.select_for_update(of=("self", "resource"))
        .select_related("resource")
        .annotate(waited_on=Exists(Step.depends_on.through.objects.filter(to_step=OuterRef("pk"))))
        .filter(pk__in=results, state=StepState.RUNNING)  # else another delivery recorded it
        .order_by("pk")
    )
    errors, recorded, moving, staying = [], [], [], []
    for step in steps:
        resource = step.resource
        try:
            if results[step.pk] is not None:
                _apply(resource, results[step.pk])
            transition, _, changed = OUTCOMES[step.action]
            for name in changed:
                resource.properties[name] = step.params[name]
        except Exception as error:
            errors.append((step, error))
            continue
        recorded.append(step)
        (moving if can_proceed(transition(resource)) else staying).append(step)
    outcome = {step.resource_id: OUTCOMES[step.action] for step in recorded}
    resources_transition(
        [step.resource for step in moving], lambda r: outcome[r.pk][0](r), fields=RESULT_FIELDS
    )
    save_rows([step.resource for step in staying], RESULT_FIELDS)
    events = [resource_event(s.resource, kind) for s in moving if (kind := OUTCOMES[s.action][1])]
    ResourceEvent.objects.bulk_create([event for event in events if event is not None])
    now = timezone.now()
    for step in recorded:
        step.finish()
        step.finished_at = now
    Step.objects.filter(pk__in=[step.pk for step in recorded]).update(
        state=StepState.DONE, finished_at=now
    )
    by_deployment: dict[int, list[Step]] = {}
    for step in recorded:
        if step.deployment_id:
            by_deployment.setdefault(step.deployment_id, []).append(step)
    for deployment_id in sorted(by_deployment):  # one lock order for every worker
        advance(deployment_id, by_deployment[deployment_id])
    return errors


@transaction.atomic
def _record_failure(step_id: int, message: str) -> None:
    step = Step.objects.select_for_update().get(pk=step_id)
    if step.state != StepState.RUNNING:
        return
    step.fail()
    step.last_error = message
    step.finished_at = timezone.now()
    step.save()
    resource = Resource.objects.select_for_update().get(pk=step.resource_id)
    if resource.state == R.UPDATING and step.action in REFUSABLE_UPDATES:
        # A refused resize/extend/snapshot leaves the object as it was.
        resource_transition(resource, resource.finish_update, message=f"{step.action}: {message}")
    else:
        resource_transition(resource, resource.mark_error, message=message)
    if step.deployment_id:
        _deployment_failed(step.deployment_id, message)


def _failure(step: Step, error: Exception) -> str | None:
    """The message that fails the step for `error`, or None when the step is to be retried.
    A transient provider error is retried up to MAX_ATTEMPTS; anything else (a bug, bad data)
    is permanent, its traceback in the worker's log, so nothing leaves a step `running` for the
    lease to pick up again and again."""
    if isinstance(error, (ProviderError, *UNAVAILABLE_ERRORS)):
        # The database refusing for a moment (a deadlock, a restart) is as transient as a
        # throttled cloud; a retry finds the object the first attempt created.
        transient = isinstance(error, UNAVAILABLE_ERRORS) or error.transient
        return None if transient and step.attempts < MAX_ATTEMPTS else str(error)
    logger.error("step %s (%s %s) failed", step.pk, step.action, step.resource, exc_info=error)
    return f"{type(error).__name__}: {error}"


@contextmanager
def _lease_renewed(step_ids: list[int]) -> Iterator[None]:
    """Renew the lease of these running steps every HEARTBEAT seconds while the block runs (the
    provider calls), from a thread with its own database connection: a call longer than the
    lease is not mistaken for a dead worker's."""
    stop = threading.Event()

    def renew() -> None:
        try:
            while not stop.wait(HEARTBEAT):
                try:
                    Step.objects.filter(pk__in=step_ids, state=StepState.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except UNAVAILABLE_ERRORS:  # down for a moment: the next beat tries again
                    logger.warning("step lease not renewed", exc_info=True)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection

    renewer = threading.Thread(target=renew, name="step-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def steps_execute(*, step_ids: list[int]) -> list[Step]:
    """Run a chunk of steps; safe to call any number of times for the same steps.

    Claims those still to run, calls the provider for each (no transaction open meanwhile),
    then records every success in one transaction. Each step ends on its own: a permanent
    error fails that step alone (the saga compensates). Returns the steps that a transient
    error left `running`, for the caller to retry later.
    """
    steps = _claim(step_ids)
    results: dict[int, CloudObject | None] = {}
    retry: list[Step] = []
    failures: list[tuple[int, str]] = []

    def settle(step: Step, error: Exception) -> None:
        message = _failure(step, error)
        if message is None:
            step.last_error = str(error)
            retry.append(step)
        else:
            failures.append((step.pk, message))

    with _lease_renewed([step.pk for step in steps]):
        for step in steps:
            try:
                results[step.pk] = provider_call(step)
            except Exception as error:
                settle(step, error)
    if results:
        try:
            errors = _record_successes(results)
        except Exception as error:  # nothing of the chunk was recorded
            errors = [(step, error) for step in steps if step.pk in results]
        for step, error in errors:
            settle(step, error)
    Step.objects.bulk_update(retry, ["last_error"])
    for step_id, message in failures:
        _record_failure(step_id, message)
    return retry


def step_execute(*, step_id: int) -> None:
    """Run one step now (`steps_execute` for one); raises TransientProviderError when it is to
    be retried later."""
    retry = steps_execute(step_ids=[step_id])
    if retry:
        raise TransientProviderError(retry[0].last_error)


# --- the step lease ----------------------------------------------------------------------
@transaction.atomic
def steps_resume(*, now: datetime | None = None) -> int:
    """Re-queue running steps whose worker vanished (its lease, renewed every HEARTBEAT while
    it works, ran out): a SIGKILLed worker's message stays unacknowledged at the broker until
    its visibility timeout. A step merely waiting in a long queue is left alone, so it is never
    run twice at once. Run by every worker (`portal.worker_sweeps`)."""
    now = now or timezone.now()
    lost = list(
        Step.objects.select_for_update(skip_locked=True).filter(
            state=StepState.RUNNING, heartbeat_at__lt=now - STEP_LEASE
        )
    )
    Step.objects.filter(pk__in=[s.pk for s in lost]).update(heartbeat_at=now)
    enqueue(lost)
    return len(lost)
