"""Writes for provisioning: deployments (sagas) over an order's resources, provider steps,
day-2 actions, cloud accounts and the reconciler.

A deployment is a dependency graph of steps. Every step without pending dependencies is queued
to the provider queue at once, in chunks spread over the workers (they run in parallel); when
steps finish, the steps that only waited for them are queued. A chunk runs in three short parts
so no transaction is open during a provider call: claim its steps (one UPDATE), call the
provider for each (idempotent: `ensure` finds the object by Canopy's name first, a delete looks
the object up by name when its id was never recorded), then record the outcomes of all in one
transaction; a step that fails ends alone. A permanent failure of a create deployment cancels
what has not started, waits for what is running, then deletes everything the order has in
reverse dependency order.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_fsm import can_proceed

from core.db import UNAVAILABLE_ERRORS
from core.models import Organization
from core.outbox import outbox_enqueue
from core.selectors import user_has_project_perm
from core.services import audit_record, audited_transition, audited_transitions
from provisioning.models import (
    TRANSITIONAL_STATES,
    CloudAccount,
    Deployment,
    DeploymentState,
    Drift,
    DriftPolicy,
    Resource,
    ResourceEvent,
    ResourceState,
    Step,
    StepState,
    UnknownObject,
)
from provisioning.providers import CloudObject, ProviderError, get_adapter
from provisioning.providers.base import KINDS, TAG_PREFIX
from provisioning.providers.metrics import metrics_settings_problems
from provisioning.providers.sandbox import load_profile
from provisioning.selectors import (
    COMPOSITE_KINDS,
    cloud_account_for_order,
    options_cache_key,
    organization_administered,
    plan_unavailable,
    size_info,
)
from provisioning.signals import (
    capacity_requested,
    change_deployment_finished,
    deployment_failed,
    deployment_started,
    deployment_succeeded,
)

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
D = DeploymentState
# Spec properties naming one copy of another spec (copy i binds to copy i); other references
# (load balancer members, networks) bind to every copy.
INDEXED_REFERENCES = {"volume": "attach_to", "dns_record": "target"}
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306}
# A group's new min/max: no provider call, only what the autoscaling engine may do from now on.
SET_BOUNDS = "set_bounds"
DAY2_ACTIONS: dict[str, set[str]] = {
    "server": {A.START, A.STOP, A.REBOOT, A.RESIZE, A.SNAPSHOT, A.DESTROY},
    "volume": {A.SNAPSHOT, A.EXTEND, A.DESTROY},
    "autoscaling_group": {A.SET_DESIRED, SET_BOUNDS, A.DESTROY},
    "network": {A.DESTROY},
    "load_balancer": {A.DESTROY},
    "dns_record": {A.DESTROY},
    "database": {A.DESTROY},
}
# Day-2 action → the transition that starts it on the resource.
STARTS: dict[str, Callable[[Resource], Callable[[], None]]] = {
    A.STOP: lambda r: r.begin_stop,
    A.START: lambda r: r.begin_start,
    A.REBOOT: lambda r: r.begin_reboot,
    A.RESIZE: lambda r: r.begin_update,
    A.SNAPSHOT: lambda r: r.begin_update,
    A.EXTEND: lambda r: r.begin_update,
}
# Actions that add capacity: admitted first (`provisioning.signals.capacity_requested`).
CAPACITY_ACTIONS = {A.RESIZE, A.EXTEND, A.SET_DESIRED}
# Updates of one resource that a provider may refuse, leaving the object as it was.
REFUSABLE_UPDATES = {A.RESIZE, A.EXTEND, A.SNAPSHOT}
# What a resource can be destroyed from.
DESTROYABLE = (R.ACTIVE, R.STOPPED, R.ERROR, R.MISSING)


class TransientProviderError(Exception):
    """Raised by `step_execute` when the step is to be retried later (with backoff)."""


# --- helpers ------------------------------------------------------------------------------
def _chunks(ids: list[int]) -> list[list[int]]:
    """Split ready steps into tasks: at most CANOPY_STEP_BATCH steps each, since a worker records
    a whole chunk in one transaction, yet never fewer than CANOPY_STEP_SPREAD tasks (when there
    are that many steps), so that a few slow provider calls still run on several workers."""
    batch, spread = settings.CANOPY_STEP_BATCH, settings.CANOPY_STEP_SPREAD
    count = max(-(-len(ids) // batch), min(len(ids), spread))
    return [ids[i::count] for i in range(count)]


def _enqueue(steps: Iterable[Step]) -> None:
    """Hand the steps to the workers once this transaction commits, in chunks of one deployment
    (a chunk's results are recorded under its deployment's lock). A resource that a create step
    is about to build is `provisioning` from now on: the transition happens here for the whole
    batch (one UPDATE, one audit INSERT) rather than in every worker."""
    steps = list(steps)
    if not steps:
        return
    Step.objects.filter(pk__in=[step.pk for step in steps]).update(queued_at=timezone.now())
    creates = [step.resource_id for step in steps if step.action == A.CREATE]
    _resources_transition(
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


def _resources_transition(
    resources: list[Resource],
    transition: Callable[[Resource], Callable[[], None]],
    *,
    message: str = "",
    fields: tuple[str, ...] = (),
) -> None:
    """`_resource_transition` for many resources at once: per order, one UPDATE and one audit
    INSERT, whatever their number. `fields` are other columns to write, whose values (like the
    transitions' targets) may differ from one resource to the next."""
    by_order: dict[int, list[Resource]] = {}
    for resource in resources:
        by_order.setdefault(resource.order_id, []).append(resource)
    now = timezone.now()
    for order_id, group in by_order.items():
        with audited_transitions(
            group, field="state", action="resource.state", message=message, order_id=order_id
        ):
            for resource in group:
                transition(resource)()  # checks each resource's source state
                resource.state_changed_at = now
                resource.status_message = message
            # Written before the receivers of the change run: they may query the resources.
            if fields:
                _save_rows(group, ("state", "state_changed_at", "status_message", *fields))
            else:  # one transition, one target: one UPDATE writes the same values to all
                Resource.objects.filter(pk__in=[r.pk for r in group]).update(
                    state=group[0].state, state_changed_at=now, status_message=message
                )


def _save_rows(resources: list[Resource], names: tuple[str, ...]) -> None:
    """Write these columns of each resource, whose values differ from one to the next, with one
    statement run for every row. (`bulk_update` builds a CASE per column and row, which costs
    a chunk of steps more than everything else it records.)"""
    if not resources:
        return
    fields = [Resource._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    sql = f"UPDATE {quote(Resource._meta.db_table)} SET {assignments} WHERE id = %s"
    rows = [
        [field.get_db_prep_save(getattr(r, field.attname), connection) for field in fields] + [r.pk]
        for r in resources
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _deployment_transition(
    deployment: Deployment, transition: Callable[[], None], *, message: str = ""
) -> None:
    with audited_transition(
        deployment,
        field="state",
        action="deployment.state",
        message=message,
        order_id=deployment.order_id,
    ):
        transition()
        deployment.message = message or deployment.message
        if deployment.state != DeploymentState.COMPENSATING:
            deployment.finished_at = timezone.now()
        deployment.save()
    if deployment.change_order_id and deployment.state in (D.SUCCEEDED, D.FAILED):
        change_deployment_finished.send(sender=Deployment, deployment=deployment)


def _event(resource: Resource, kind: str) -> ResourceEvent | None:
    """The billable fact of a lifecycle change, to save in the same transaction (composites
    have none: their servers are metered)."""
    if resource.kind not in KINDS:
        return None
    props = resource.properties
    return ResourceEvent(
        resource=resource,
        kind=kind,
        at=timezone.now(),
        size=str(props.get("size", "")) if resource.kind == "server" else "",
        quantity=Decimal(str(props.get("size_gb", 0))) if resource.kind == "volume" else 1,
        properties={k: v for k, v in props.items() if k != "user_data"},
    )


def _check_perm(user: AbstractUser | None, resource_or_order: Resource | Order) -> None:
    """`user` None is Canopy itself acting on a policy (lease, reclaim, autoscaling)."""
    if user is not None and not user_has_project_perm(
        user=user, project=resource_or_order.project, perm="order_in_project"
    ):
        raise PermissionDenied("You may not change this.")


# --- planning -----------------------------------------------------------------------------
def _in_dependency_order(specs: list[dict]) -> list[dict]:
    by_key = {spec["key"]: spec for spec in specs}
    ordered: list[dict] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(spec: dict) -> None:
        if spec["key"] in done:
            return
        if spec["key"] in visiting:
            raise ValidationError({"resources": [f"Dependency cycle at {spec['key']!r}."]})
        visiting.add(spec["key"])
        for key in spec.get("depends_on", []):
            if key not in by_key:
                raise ValidationError({"resources": [f"{spec['key']!r} needs unknown {key!r}."]})
            visit(by_key[key])
        visiting.discard(spec["key"])
        done.add(spec["key"])
        ordered.append(spec)

    for spec in specs:
        visit(spec)
    return ordered


class _Plan:
    """New resources and steps of a graph, inserted when saved with one query per table, whatever
    their number (two for resources: a new composite before the servers that point at it)."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.resources: list[Resource] = []
        self.steps: list[Step] = []
        self.edges: list[tuple[Step, Step]] = []  # (a step, a step it waits for)

    def resource(self, **fields: Any) -> Resource:
        deployment = self.deployment
        resource = Resource(
            order_id=deployment.order_id,
            project_id=deployment.order.project_id,
            cloud_account_id=deployment.cloud_account_id,
            **fields,
        )
        self.resources.append(resource)
        return resource

    def step(
        self,
        resource: Resource,
        action: str,
        depends_on: Iterable[Step] = (),
        params: dict | None = None,
    ) -> Step:
        step = Step(
            deployment=self.deployment, resource=resource, action=action, params=params or {}
        )
        self.steps.append(step)
        self.edges += [(step, dependency) for dependency in depends_on]
        return step

    def save(self) -> None:
        later = [r.parent is not None and r.parent.pk is None for r in self.resources]
        for level in (False, True):
            Resource.objects.bulk_create(
                [r for r, waits in zip(self.resources, later, strict=True) if waits == level]
            )
        Step.objects.bulk_create(self.steps)
        through = Step.depends_on.through
        through.objects.bulk_create(
            [through(from_step_id=a.pk, to_step_id=b.pk) for a, b in self.edges],
            ignore_conflicts=True,
        )


def _plan_servers(
    plan: _Plan, parent: Resource, names: Iterable[str], deps: list[Step], props: dict
) -> list[Step]:
    server_props = {k: props[k] for k in ("size", "image", "location", "network") if k in props}
    return [
        plan.step(
            plan.resource(
                kind="server", key=parent.key, name=name, parent=parent, properties=server_props
            ),
            A.CREATE,
            deps,
        )
        for name in names
    ]


def _plan_spec_copy(plan: _Plan, spec: dict, name: str, deps: list[Step]) -> Step:
    """Plan one copy of a spec; returns the step that dependents wait for."""
    kind, props = spec["kind"], dict(spec["properties"])
    parent = plan.resource(kind=kind, key=spec["key"], name=name, properties=props)
    if kind == "database":
        parent.secret = {"user": "canopy", "password": secrets.token_urlsafe(18)}
        servers = _plan_servers(plan, parent, [f"{name}-server"], deps, props)
        if props.get("storage_gb"):  # the data lives on its own volume, kept apart from the OS
            volume = plan.resource(
                kind="volume",
                key=spec["key"],
                name=f"{name}-data",
                parent=parent,
                properties={"size_gb": int(props["storage_gb"])},
            )
            servers.append(plan.step(volume, A.CREATE, servers))
        return plan.step(parent, A.CREATE, servers)
    if kind == "autoscaling_group":
        names = [f"{name}-{i + 1}" for i in range(int(props.get("desired", 1)))]
        servers = _plan_servers(plan, parent, names, deps, props)
        return plan.step(parent, A.CREATE, servers)
    return plan.step(parent, A.CREATE, deps)


def _plan_create(deployment: Deployment, specs: list[dict]) -> None:
    plan = _Plan(deployment)
    planned: dict[str, list[Step]] = {}  # spec key → the step of each copy
    for spec in _in_dependency_order(specs):
        count = max(int(spec.get("count", 1)), 1)
        indexed = spec["properties"].get(INDEXED_REFERENCES.get(spec["kind"], ""))
        steps = []
        for index in range(count):
            # as catalog.templating.copy_names names them (the order form checks those names)
            name = spec["name"] if count == 1 else f"{spec['name']}-{index + 1}"
            deps: list[Step] = []
            for key in spec.get("depends_on", []):
                copies = planned[key]
                deps += [copies[index % len(copies)]] if key == indexed else copies
            steps.append(_plan_spec_copy(plan, spec, name, deps))
        planned[spec["key"]] = steps
    plan.save()


def _plan_destroy(deployment: Deployment, resources: list[Resource]) -> None:
    """Delete steps in reverse of the create graph: what depended on X goes before X. A
    composite (database, autoscaling group) goes after its servers."""
    _resources_transition(
        [r for r in resources if r.state != R.DELETING],
        lambda r: r.begin_delete,
        message="deleting",
    )
    plan = _Plan(deployment)
    by_id = {r.pk: r for r in resources}
    step_for = {r.pk: plan.step(r, A.DESTROY) for r in resources}
    edges = Step.depends_on.through.objects.filter(
        from_step__resource__in=by_id, to_step__resource__in=by_id
    ).values_list("from_step__resource", "to_step__resource")
    children: dict[int, list[int]] = {}
    for resource in resources:
        if resource.parent_id:
            children.setdefault(resource.parent_id, []).append(resource.pk)
    waits: set[tuple[int, int]] = set()  # (resource whose delete waits, resource it waits for)
    for dependent, dependency in set(edges):
        if dependent == dependency:
            continue
        if by_id[dependency].parent_id == dependent:  # composite → its server
            waits.add((dependent, dependency))
            continue
        waits.add((dependency, dependent))
        # A composite's servers also wait for its dependents.
        waits.update((child, dependent) for child in children.get(dependency, []))
    plan.edges += [(step_for[a], step_for[b]) for a, b in waits]
    plan.save()


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
    _plan_create(deployment, order.planned_resources)
    deployment_started.send(sender=Deployment, order=order)
    _advance(deployment.pk)
    return deployment


@transaction.atomic
def bounds_set(*, order: Order) -> None:
    """An approved change order sets its group's new min and max: the autoscaling engine keeps
    within them from now on (its servers stay as they are: the bounds hold the current count)."""
    group = Resource.objects.select_for_update().get(pk=order.resource_id)
    params = day2_check(resource=group, action=SET_BOUNDS, params=order.parameters)
    before = f"min {group.properties.get('min')}, max {group.properties.get('max')}"
    group.properties = {**group.properties, **params}
    group.save(update_fields=["properties"])
    audit_record(
        action="resource.bounds",
        target=group,
        message=f"bounds {before} → min {params['min']}, max {params['max']} (order #{order.pk})",
        order_id=group.order_id,
    )


def _running_deployment(order: Order) -> bool:
    return order.deployments.filter(
        state__in=[DeploymentState.RUNNING, DeploymentState.COMPENSATING]
    ).exists()


def _destroy_deployment(order: Order, resources: list[Resource], **fields: Any) -> Deployment:
    deployment = Deployment.objects.create(
        order=order,
        cloud_account=resources[0].cloud_account,
        direction=Deployment.Direction.DESTROY,
        **fields,
    )
    _plan_destroy(deployment, resources)
    _advance(deployment.pk)
    return deployment


@transaction.atomic
def order_resources_destroy(
    *, user: AbstractUser | None, order: Order, change_order: Order | None = None
) -> Deployment:
    """Delete every resource of the order (locked by its owner, `catalog.orders.order_destroy`):
    the create saga in reverse (`user` None: a policy, or the approved destroy order
    `change_order`)."""
    _check_perm(user, order)
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
    return _destroy_deployment(order, resources, change_order=change_order)


# --- running the graph --------------------------------------------------------------------
def _advance(deployment_id: int, finished: list[Step] | None = None) -> None:
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
        _enqueue(candidates.exclude(Exists(unfinished)))
    if not deployment.steps.exclude(state=StepState.DONE).exists():
        _deployment_succeeded(deployment)


def _deployment_succeeded(deployment: Deployment) -> None:
    _deployment_transition(deployment, deployment.succeed)
    if deployment.direction == Deployment.Direction.CREATE:
        deployment_succeeded.send(sender=Deployment, order_id=deployment.order_id)
    elif deployment.compensates_id:
        failed = Deployment.objects.select_for_update().get(pk=deployment.compensates_id)
        _deployment_transition(failed, failed.fail, message=failed.message)


def _deployment_failed(deployment_id: int, message: str) -> None:
    deployment = Deployment.objects.select_for_update().get(pk=deployment_id)
    if deployment.state != DeploymentState.RUNNING:
        _maybe_compensate(deployment)
        return
    deployment.steps.filter(state=StepState.PENDING).update(state=StepState.CANCELLED)
    if deployment.direction != Deployment.Direction.CREATE:
        _deployment_transition(deployment, deployment.fail, message=message)
        if deployment.compensates_id:
            failed = Deployment.objects.select_for_update().get(pk=deployment.compensates_id)
            _deployment_transition(failed, failed.fail, message=f"{failed.message}; {message}")
        return
    _deployment_transition(deployment, deployment.compensate, message=message)
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
        _deployment_transition(deployment, deployment.fail, message=deployment.message)
        return
    _destroy_deployment(deployment.order, resources, compensates=deployment)


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


def _dependencies(step: Step) -> list[Resource]:
    """The resources the step binds to, composites replaced by their live servers."""
    if not step.waits:
        return []
    resources = []
    for dependency in step.depends_on.select_related("resource"):
        resource = dependency.resource
        if resource.kind in COMPOSITE_KINDS:
            resources += list(resource.children.filter(kind="server", state=R.ACTIVE))
        else:
            resources.append(resource)
    return resources


def _first_ip(resource: Resource) -> str:
    return (resource.public_ips or resource.private_ips or [""])[0]


def _database_user_data(database: Resource) -> str:
    """cloud-init that installs the engine and creates the database and its user."""
    props, secret = database.properties, database.secret
    engine, db_name = props.get("engine", "postgresql"), props.get("db_name", "app")
    user, password = secret["user"], secret["password"]
    if engine == "mysql":
        commands = [
            "apt-get install -y mysql-server",
            f'mysql -e "CREATE DATABASE IF NOT EXISTS {db_name}; CREATE USER IF NOT EXISTS '
            f"'{user}'@'%' IDENTIFIED BY '{password}'; GRANT ALL ON {db_name}.* TO '{user}'@'%';\"",
        ]
    else:
        commands = [
            "apt-get install -y postgresql",
            f"sudo -u postgres psql -c \"CREATE USER {user} WITH PASSWORD '{password}'\"",
            f"sudo -u postgres createdb -O {user} {db_name}",
            "echo \"listen_addresses = '*'\" >> /etc/postgresql/*/main/postgresql.conf",
            "echo 'host all all 0.0.0.0/0 scram-sha-256' >> /etc/postgresql/*/main/pg_hba.conf",
            "systemctl restart postgresql",
        ]
    lines = ["#cloud-config", "package_update: true", "runcmd:"]
    return "\n".join(lines + [f"  - {command!r}" for command in commands]) + "\n"


def _concrete(step: Step) -> dict[str, Any]:
    """The adapter's properties: the template's, with references bound to finished objects."""
    resource, props = step.resource, step.resource.properties
    deps = _dependencies(step)
    servers = [d for d in deps if d.kind == "server" and d.external_id]
    match resource.kind:
        case "server":
            networks = [d.external_id for d in deps if d.kind == "network"]
            concrete = {
                k: props[k] for k in ("size", "image", "location", "ssh_key") if props.get(k)
            }
            if networks:
                concrete["network_id"] = networks[0]
            if resource.parent and resource.parent.kind == "database":
                concrete["user_data"] = _database_user_data(resource.parent)
            elif props.get("user_data"):
                concrete["user_data"] = props["user_data"]
            return concrete
        case "volume":
            return {"size_gb": props.get("size_gb"), "server_id": servers[0].external_id}
        case "network":
            return {"cidr": props.get("cidr", "10.0.0.0/16")}
        case "load_balancer":
            return {
                "protocol": props.get("protocol", "http"),
                "port": props.get("port", 80),
                "members": [{"id": s.external_id, "ip": _first_ip(s)} for s in servers],
            }
        case "dns_record":
            # A load balancer's address (often a host name), else the server's IP; the record's
            # type follows what it points at, whatever the template said.
            target = deps[0]
            address = target.attributes.get("address") or _first_ip(target)
            return {
                "zone": props.get("zone"),
                "record": props.get("record"),
                "type": dns_record_type(address),
                "address": address,
            }
    raise ValueError(resource.kind)


def dns_record_type(address: str | None) -> str:
    """A for an IP address, CNAME for a host name (a CNAME may not name an IP, nor A a host)."""
    try:
        ipaddress.ip_address(address or "")
    except ValueError:
        return "CNAME" if address else "A"
    return "A"


def _composite_object(step: Step) -> CloudObject | None:
    """Databases and autoscaling groups exist through their servers: no provider call."""
    resource = step.resource
    if step.action == A.DESTROY:
        return None
    servers = list(resource.children.filter(kind="server", state=R.ACTIVE))
    attributes: dict[str, Any] = {"servers": [s.external_id for s in servers]}
    if resource.kind == "database" and servers:
        engine = resource.properties.get("engine", "postgresql")
        attributes |= {
            "host": (servers[0].private_ips or servers[0].public_ips or [""])[0],
            "public_host": (servers[0].public_ips or [""])[0],
            "port": DATABASE_PORTS.get(engine, 5432),
            "db_name": resource.properties.get("db_name", "app"),
            "user": resource.secret.get("user", ""),
        }
    return CloudObject(
        kind=resource.kind,
        external_id="",
        name=resource.canopy_tag,
        state="running",
        attributes=attributes,
    )


def _members(balancer: Resource) -> list[dict[str, str]]:
    group = Resource.objects.get(
        order_id=balancer.order_id, key=balancer.properties.get("members"), parent=None
    )
    servers = group.children.filter(kind="server", state=R.ACTIVE).exclude(external_id="")
    return [{"id": s.external_id, "ip": _first_ip(s)} for s in servers]


def _call_provider(step: Step) -> CloudObject | None:
    resource = step.resource
    if resource.kind in COMPOSITE_KINDS:
        return _composite_object(step)
    adapter = get_adapter(resource.cloud_account)
    match step.action:
        case A.CREATE:
            return adapter.ensure(resource.kind, resource.canopy_tag, _concrete(step))
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
            params = {"members": _members(resource)}
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
    _resources_transition(
        [step.resource for step in moving], lambda r: outcome[r.pk][0](r), fields=RESULT_FIELDS
    )
    _save_rows([step.resource for step in staying], RESULT_FIELDS)
    events = [_event(s.resource, kind) for s in moving if (kind := OUTCOMES[s.action][1])]
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
        _advance(deployment_id, by_deployment[deployment_id])
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
        _resource_transition(resource, resource.finish_update, message=f"{step.action}: {message}")
    else:
        _resource_transition(resource, resource.mark_error, message=message)
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
                results[step.pk] = _call_provider(step)
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


# --- day-2 actions ------------------------------------------------------------------------
def _day2_params(resource: Resource, action: str, params: dict) -> dict:
    """Check an action's parameters; field errors name the parameter."""
    match action:
        case A.RESIZE:
            size = str(params.get("size", ""))
            if size_info(account=resource.cloud_account, size=size) is None:
                raise ValidationError({"size": [f"Unknown size {size!r}."]})
            return {"size": size}
        case A.EXTEND:
            current = int(resource.properties.get("size_gb", 0))
            try:
                size_gb = int(params.get("size_gb"))
            except (TypeError, ValueError):
                raise ValidationError({"size_gb": ["A whole number of GB is required."]}) from None
            if size_gb <= current:
                raise ValidationError({"size_gb": [f"Must be more than the current {current} GB."]})
            return {"size_gb": size_gb}
        case "set_bounds":
            try:
                low, high = int(params.get("min")), int(params.get("max"))
            except (TypeError, ValueError):
                raise ValidationError({"min": ["Whole numbers are required."]}) from None
            desired = int(resource.properties.get("desired", low))
            if not 0 <= low <= desired <= high:
                raise ValidationError(
                    {"max": [f"Keep 0 ≤ min ≤ the current {desired} servers ≤ max."]}
                )
            return {"min": low, "max": high}
        case A.SET_DESIRED:
            props = resource.properties
            low, high = int(props.get("min", 1)), int(props.get("max", 1))
            try:
                desired = int(params.get("desired"))
            except (TypeError, ValueError):
                raise ValidationError({"desired": ["A whole number is required."]}) from None
            if not low <= desired <= high:
                raise ValidationError({"desired": [f"Must be between {low} and {high}."]})
            return {"desired": desired}
    return {}


def _admit(user: AbstractUser | None, resource: Resource, action: str, params: dict) -> None:
    """Ask whoever admits capacity (approvals' quota) before adding any; a refusal raises."""
    if action in CAPACITY_ACTIONS:
        capacity_requested.send(
            sender=Resource, user=user, resource=resource, action=action, params=params
        )


def _scale(
    resource: Resource,
    desired: int,
    user: AbstractUser | None,
    leaving: Resource | None = None,
    change_order: Order | None = None,
) -> Step:
    """Add or remove the group's servers and update the load balancers in front of it.
    `leaving`: the one server to remove (a member destroyed on its own), else the newest go."""
    group = resource
    current = list(group.children.exclude(state__in=[R.DELETED, R.DELETING]).order_by("id"))
    if leaving is None and desired == len(current):
        raise ValidationError({"desired": [f"The group already has {desired} servers."]})
    deployment = Deployment.objects.create(
        order=group.order,
        cloud_account=group.cloud_account,
        direction=Deployment.Direction.SCALE,
        change_order=change_order,
    )
    _resource_transition(group, group.begin_update, actor=user, message=f"desired {desired}")
    balancers = list(
        Resource.objects.select_for_update().filter(
            order=group.order, kind="load_balancer", state=R.ACTIVE, properties__members=group.key
        )
    )
    for balancer in balancers:
        _resource_transition(balancer, balancer.begin_update, message="updating members")
    plan = _Plan(deployment)
    if leaving is None and desired > len(current):
        # New servers wait for what the group's first server waited for (its network).
        template = Step.objects.filter(resource__parent=group, action=A.CREATE).first()
        deps = list(template.depends_on.all()) if template else []
        number = group.children.count()
        names = [f"{group.name}-{number + i + 1}" for i in range(desired - len(current))]
        servers = _plan_servers(plan, group, names, deps, group.properties)
        members = [plan.step(b, A.SET_MEMBERS, servers) for b in balancers]
        last = servers + members
    else:
        members = [plan.step(b, A.SET_MEMBERS) for b in balancers]
        last = []
        for server in [leaving] if leaving else current[desired:]:
            _resource_transition(server, server.begin_delete, actor=user, message="scaling in")
            last.append(plan.step(server, A.DESTROY, members))
    step = plan.step(group, A.SET_DESIRED, last, {"desired": desired})
    plan.save()
    _advance(deployment.pk)
    return step


def _destroy_member(
    group: Resource, server: Resource, user: AbstractUser | None, change_order: Order | None
) -> Step:
    """Destroy one server of an autoscaling group and lower the group's desired count by one
    (AWS's "terminate instance and decrement desired capacity"), so the group neither
    recreates it nor counts it. A second request finds the server deleting and is refused."""
    desired = _member_removable(group)
    step = _scale(group, desired, user, leaving=server, change_order=change_order)
    return Step.objects.get(deployment_id=step.deployment_id, resource=server)


def _member_removable(group: Resource) -> int:
    """The group's desired count once one of its servers is destroyed; refused while the
    group is changing, or below its minimum."""
    if not can_proceed(group.begin_update):
        raise ValidationError(
            {"action": [f"Wait for the group {group.name} to finish changing ({group.state})."]}
        )
    low = int(group.properties.get("min", 1))
    desired = int(group.properties.get("desired", low)) - 1
    if desired < low:
        raise ValidationError(
            {
                "action": [
                    f"Destroying it would take the group {group.name} below its minimum of "
                    f"{low}; lower the minimum first, or destroy the whole group."
                ]
            }
        )
    return desired


def day2_check(*, resource: Resource, action: str, params: dict) -> dict:
    """Whether the resource can take the action now; returns the action's parameters checked
    (field errors name the parameter)."""
    if action not in DAY2_ACTIONS.get(resource.kind, set()):
        raise ValidationError({"action": [f"A {resource.kind} cannot {action}."]})
    if action == A.DESTROY:
        if resource.state not in DESTROYABLE:
            raise ValidationError(
                {"action": [f"Cannot destroy a resource that is {resource.state}."]}
            )
        if resource.parent_id and resource.parent.kind == "autoscaling_group":
            _member_removable(resource.parent)
        return {}
    params = _day2_params(resource, action, params)
    if action == SET_BOUNDS:
        if resource.state != R.ACTIVE:
            raise ValidationError(
                {"action": [f"Cannot change the bounds of a group that is {resource.state}."]}
            )
        return params
    if not can_proceed(STARTS.get(action, lambda r: r.begin_update)(resource)):
        raise ValidationError({"action": [f"Cannot {action} a resource that is {resource.state}."]})
    return params


@transaction.atomic
def resource_action_request(
    *,
    user: AbstractUser | None,
    resource_id: int,
    action: str,
    params: dict | None = None,
    reason: str = "",
    change_order: Order | None = None,
) -> Step:
    """A person (or, with `user` None, a policy giving its `reason`) asks for a day-2 action on a
    resource; workers carry it out. `change_order`: the approved order this action carries out
    (its quota was reserved when it was admitted); the deployment that runs it ends it."""
    # Destroying a group's server changes the group: the group is locked first, in the order
    # scaling locks them. Other actions lock the resource alone.
    group = (
        Resource.objects.select_for_update(of=("self",))
        .filter(kind="autoscaling_group", children=resource_id)
        .first()
        if action == A.DESTROY
        else None
    )
    resource = Resource.objects.select_for_update().select_related("project").get(pk=resource_id)
    _check_perm(user, resource)
    if resource.observe_only:
        raise ValidationError(
            {"action": [f"{resource.name} is adopted to be observed only: Canopy takes no action."]}
        )
    params = day2_check(resource=resource, action=action, params=params or {})
    if action == SET_BOUNDS:
        raise ValidationError({"action": ["New bounds are ordered: they need an approval."]})
    if action == A.DESTROY:
        if group is not None:
            return _destroy_member(group, resource, user, change_order)
        family = [resource, *resource.children.exclude(state=R.DELETED)]
        deployment = _destroy_deployment(resource.order, family, change_order=change_order)
        return deployment.steps.get(resource=resource)
    if change_order is None:
        _admit(user, resource, action, params)
    if action == A.SET_DESIRED:
        return _scale(resource, params["desired"], user, change_order=change_order)
    transition = STARTS.get(action, lambda r: r.begin_update)(resource)
    _resource_transition(resource, transition, actor=user, message=reason or f"{action} requested")
    # A change order's step runs in a deployment of its own, whose end ends the order.
    deployment = None
    if change_order is not None:
        deployment = Deployment.objects.create(
            order=resource.order,
            cloud_account=resource.cloud_account,
            direction=Deployment.Direction.CHANGE,
            change_order=change_order,
        )
    step = Step.objects.create(
        deployment=deployment, resource=resource, action=action, params=params
    )
    _enqueue([step])
    return step


# --- cloud accounts -----------------------------------------------------------------------
ACCOUNT_FIELDS = ("name", "provider", "region", "endpoint_url", "options")


def cloud_account_validate(
    *, organization: Organization, data: dict, account: CloudAccount | None = None
) -> None:
    """Check an account's fields as the create/update services take them (API and admin);
    `account`: the one being changed."""
    credentials = data.get("credentials")
    if credentials is not None and (
        not isinstance(credentials, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in credentials.items())
    ):
        raise ValidationError({"credentials": ["An object of text values is expected."]})
    if "options" in data and not isinstance(data["options"], dict):
        raise ValidationError({"options": ["An object of provider knobs is expected."]})
    provider = data.get("provider") or (account.provider if account else "")
    problems = metrics_settings_problems(data.get("options") or {}, provider)
    if problems:
        raise ValidationError({"options": problems})
    foreign = [p.name for p in data.get("projects", []) if p.organization_id != organization.pk]
    if foreign:
        raise ValidationError({"projects": [f"Not in {organization}: {', '.join(foreign)}."]})


def _save_account(account: CloudAccount, data: dict) -> CloudAccount:
    for name in ACCOUNT_FIELDS:
        if name in data:
            setattr(account, name, data[name])
    if data.get("credentials") is not None:
        account.credentials = data["credentials"]
    account.full_clean(exclude=["organization"])
    account.save()
    if "projects" in data:
        account.projects.set(data["projects"])
    cache.delete(options_cache_key(account.pk))
    return account


@transaction.atomic
def cloud_account_create(
    *, user: AbstractUser, organization: Organization, data: dict
) -> CloudAccount:
    if not organization_administered(user=user, organization=organization):
        raise PermissionDenied("Only the organization's admins manage its cloud accounts.")
    cloud_account_validate(organization=organization, data=data)
    account = _save_account(CloudAccount(organization=organization), data)
    audit_record(action="cloud_account.created", target=account, actor=user, message=account.name)
    return account


def _changed_fields(account: CloudAccount, data: dict) -> list[str]:
    """The fields `data` really changes (the admin sends every field, the API only some)."""
    changed = sorted(
        name
        for name in ACCOUNT_FIELDS
        if name in data and (data[name] or "") != (getattr(account, name) or "")
    )
    if "projects" in data and {p.pk for p in data["projects"]} != set(
        account.projects.values_list("pk", flat=True)
    ):
        changed = sorted([*changed, "projects"])
    if data.get("credentials") is not None:
        changed.append("credentials")  # named, never compared or shown
    return changed


@transaction.atomic
def cloud_account_update(*, user: AbstractUser, account: CloudAccount, data: dict) -> CloudAccount:
    account = CloudAccount.objects.select_for_update().get(pk=account.pk)
    if not organization_administered(user=user, organization=account.organization):
        raise PermissionDenied("Only the organization's admins manage its cloud accounts.")
    cloud_account_validate(organization=account.organization, data=data, account=account)
    changed = _changed_fields(account, data)
    account = _save_account(account, data)
    # The audit names what changed, never the credentials' values.
    audit_record(
        action="cloud_account.updated", target=account, actor=user, message=", ".join(changed)
    )
    return account


@transaction.atomic
def cloud_account_delete(*, user: AbstractUser, account: CloudAccount) -> None:
    """Delete an account nothing provisioned depends on (the database protects those)."""
    account = CloudAccount.objects.select_for_update().get(pk=account.pk)
    if not organization_administered(user=user, organization=account.organization):
        raise PermissionDenied("Only the organization's admins manage its cloud accounts.")
    audit_record(action="cloud_account.deleted", target=account, actor=user, message=account.name)
    account.delete()  # its cached options go with it: account_options_forget


def account_options_forget(*, instance: CloudAccount, created: bool = True, **kwargs: Any) -> None:
    """Receiver of CloudAccount's post_save and post_delete: drop the options cached under a new
    or deleted account's id, however the row was written. They belong to another account:
    SQLite, the embedded mode, gives a new row the id of the last one deleted."""
    if created:
        cache.delete(options_cache_key(instance.pk))


def cloud_account_test(*, user: AbstractUser | None, account: CloudAccount) -> str:
    """Check the connection; returns "" when it works, else what failed (also audited)."""
    try:
        get_adapter(account).test_connection()
    except ProviderError as error:
        problem = str(error) or "the provider refused the connection"
    except Exception as error:  # a library's own error (DNS, TLS…): still say what failed
        problem = f"{type(error).__name__}: {error}"
    else:
        problem = ""
    audit_record(
        action="cloud_account.tested",
        target=account,
        actor=user,
        message=problem or "connection works",
    )
    return problem


def account_options_refresh(*, account_id: int) -> dict[str, Any] | None:
    """Fetch the account's locations, sizes and images into the cache (a worker's job)."""
    account = CloudAccount.objects.filter(pk=account_id).first()
    if account is None:
        return None
    try:
        adapter = get_adapter(account)
        entry = {
            "locations": adapter.list_locations(),
            "sizes": adapter.list_sizes(),
            "images": adapter.list_images(),
            "fetched_at": timezone.now().timestamp(),
        }
    except ProviderError:
        return cache.get(options_cache_key(account_id))  # keep serving what we had
    cache.set(options_cache_key(account_id), entry, timeout=None)
    return entry


def account_options_refresh_all() -> int:
    ids = list(CloudAccount.objects.values_list("pk", flat=True))
    for account_id in ids:
        account_options_refresh(account_id=account_id)
    return len(ids)


# --- reconciler ---------------------------------------------------------------------------
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
    _enqueue(lost)
    return len(lost)


# The provider's power states Canopy compares (others, like "pending", are in passing).
POWER_STATES = {"running": R.ACTIVE, "stopped": R.STOPPED}
# Resources compared per read: a bounded batch, so one account's thousands of resources never
# sit in one query or one transaction.
RECONCILE_BATCH = 200
DriftField = Drift.Field
# The billable truth is recorded whatever the policy, so metering follows the provider.
BILLED_FIELDS = (DriftField.POWER, DriftField.SIZE, DriftField.VOLUME_SIZE)


def _member_ids(attributes: dict[str, Any]) -> str:
    return ", ".join(sorted(m["id"] for m in attributes.get("members", [])))


def _differences(resource: Resource, obj: CloudObject) -> dict[str, tuple[str, str]]:
    """Field → (what Canopy recorded, what the provider reports), where they differ."""
    found: dict[str, tuple[str, str]] = {}
    reported = obj.attributes
    if resource.kind == "server":
        power = POWER_STATES.get(obj.state)
        if power is not None and power != resource.state:
            found[DriftField.POWER] = (resource.state, power)
        size, recorded_size = str(reported.get("size") or ""), str(resource.properties.get("size"))
        if size and size != recorded_size:
            found[DriftField.SIZE] = (recorded_size, size)
    elif resource.kind == "volume" and reported.get("size_gb"):
        recorded_gb = int(resource.properties.get("size_gb") or 0)
        if int(reported["size_gb"]) != recorded_gb:
            found[DriftField.VOLUME_SIZE] = (str(recorded_gb), str(int(reported["size_gb"])))
    elif resource.kind == "load_balancer" and "members" in reported:
        recorded_members, members = _member_ids(resource.attributes), _member_ids(reported)
        if members != recorded_members:
            found[DriftField.MEMBERS] = (recorded_members, members)
    elif resource.kind == "dns_record" and reported.get("address"):
        recorded_address = str(resource.attributes.get("address") or "")
        if reported["address"] != recorded_address:
            found[DriftField.ADDRESS] = (recorded_address, str(reported["address"]))
    return found


def drift_policy_for(*, account: CloudAccount) -> str:
    """The account's drift action, else its organization's, else adopt."""
    policy = (
        DriftPolicy.objects.filter(organization_id=account.organization_id)
        .filter(Q(cloud_account=account) | Q(cloud_account__isnull=True))
        .order_by(F("cloud_account_id").asc(nulls_last=True))
        .first()
    )
    return policy.action if policy else DriftPolicy.Action.ADOPT


def reconcile_account(*, account_id: int) -> dict[str, int]:
    """Compare what Canopy recorded with what the provider reports (one listing), in bounded
    batches read without locks; only a resource that differs is locked, re-read and handled in
    its own short transaction."""
    account = CloudAccount.objects.get(pk=account_id)
    listed_at = timezone.now()
    adapter = get_adapter(account)
    # No transaction is open during the calls. Servers: also those never named by Canopy
    # (adopted ones keep their own names).
    tagged, servers = adapter.list_tagged(), adapter.list_servers()
    reported = {(obj.kind, obj.external_id): obj for obj in [*tagged, *servers]}
    action = drift_policy_for(account=account)
    counts = {"missing": 0, "drift": 0}
    compared = (
        Resource.objects.filter(
            cloud_account=account, kind__in=KINDS, state__in=[R.ACTIVE, R.STOPPED]
        )
        .filter(state_changed_at__lt=listed_at)  # changed since the listing: not comparable
        .exclude(external_id="")
        .order_by("pk")
    )
    after = 0
    while batch := list(compared.filter(pk__gt=after)[:RECONCILE_BATCH]):
        after = batch[-1].pk
        differing = []
        for resource in batch:
            obj = reported.get((resource.kind, resource.external_id))
            if obj is None or _differences(resource, obj):
                differing.append((resource.pk, obj))
        _drifts_close(batch, reported, listed_at)
        for resource_id, obj in differing:
            outcome = _reconcile_resource(resource_id, obj, listed_at, action)
            if outcome:
                counts[outcome] += 1
    counts["unknown"] = _reconcile_record(account, list(reported.values()))
    return counts


def _drifts_close(batch: list[Resource], reported: dict, listed_at: datetime) -> None:
    """Close the open drifts of fields that agree again (restored, or put right by hand)."""
    by_pk = {resource.pk: resource for resource in batch}
    agreeing = [
        drift.pk
        for drift in Drift.objects.filter(resource__in=batch, resolved_at__isnull=True)
        if (
            obj := reported.get(
                (by_pk[drift.resource_id].kind, by_pk[drift.resource_id].external_id)
            )
        )
        and drift.field not in _differences(by_pk[drift.resource_id], obj)
    ]
    if agreeing:
        Drift.objects.filter(pk__in=agreeing, resolved_at__isnull=True).update(
            resolved_at=listed_at, outcome=Drift.Outcome.RESTORED
        )


def _restore(resource: Resource, field: str) -> bool:
    """Ask for the step that puts the field back; False when Canopy cannot (sizes: resizing
    back needs the server stopped, a person decides; DNS: no update action)."""
    if field == DriftField.POWER:
        action = A.START if resource.state == R.STOPPED else A.STOP
        resource_action_request(
            user=None, resource_id=resource.pk, action=action, reason="restored after drift"
        )
        return True
    if field == DriftField.MEMBERS:
        _resource_transition(resource, resource.begin_update, message="restoring its members")
        members = resource.attributes.get("members", [])  # as Canopy last set them
        _enqueue(
            [
                Step.objects.create(
                    resource=resource, action=A.SET_MEMBERS, params={"members": members}
                )
            ]
        )
        return True
    return False


def _adopt(resource: Resource, field: str, reported: str, obj: CloudObject, at: datetime) -> None:
    """Record the provider's state as Canopy's; a billable change gets its event, so metering
    follows the provider from the hour it was seen."""
    if field == DriftField.POWER:
        stopped = reported == R.STOPPED
        transition = resource.observe_stopped if stopped else resource.observe_running
        message = f"{'stopped' if stopped else 'started'} at the provider outside Canopy"
        _resource_transition(resource, transition, message=message)
        kind = ResourceEvent.Kind.STOPPED if stopped else ResourceEvent.Kind.STARTED
    elif field in (DriftField.SIZE, DriftField.VOLUME_SIZE):
        resource.properties[field] = int(reported) if field == DriftField.VOLUME_SIZE else reported
        resource.save(update_fields=["properties"])
        kind = ResourceEvent.Kind.RESIZED
    else:  # members, address: what the provider reported last
        resource.attributes[field] = obj.attributes[field]
        resource.save(update_fields=["attributes"])
        return
    event = _event(resource, kind)
    event.at = at
    event.save()


@transaction.atomic
def _reconcile_resource(
    resource_id: int, obj: CloudObject | None, listed_at: datetime, action: str
) -> str:
    """Handle one resource that differed: gone at the provider ("missing"), or drifted
    ("drift"); "" when it changed since the listing (the next run compares it again)."""
    resource = Resource.objects.select_for_update().get(pk=resource_id)
    if resource.state not in (R.ACTIVE, R.STOPPED) or resource.state_changed_at >= listed_at:
        return ""
    if obj is None:
        _resource_transition(
            resource, resource.mark_missing, message="deleted at the provider outside Canopy"
        )
        _event(resource, ResourceEvent.Kind.DELETED).save()  # gone: billing stops
        return "missing"
    open_drifts = {
        d.field: d for d in Drift.objects.filter(resource=resource, resolved_at__isnull=True)
    }
    found = 0
    for field, (recorded, reported) in _differences(resource, obj).items():
        previous = open_drifts.get(field)
        if previous is not None:
            if previous.reported == reported:
                continue  # already reported, or being restored
            previous.resolved_at = listed_at  # superseded by what the provider reports now
            previous.save(update_fields=["resolved_at"])
        adopting = action == DriftPolicy.Action.ADOPT or resource.observe_only
        if adopting or field in BILLED_FIELDS:
            _adopt(resource, field, reported, obj, listed_at)
        if not adopting and _restore(resource, field):
            outcome = Drift.Outcome.RESTORING
        elif adopting or field in BILLED_FIELDS:
            outcome = Drift.Outcome.ADOPTED
        else:
            outcome = Drift.Outcome.REPORTED
        Drift.objects.create(
            resource=resource,
            field=field,
            recorded=recorded,
            reported=reported,
            outcome=outcome,
            detected_at=listed_at,
            resolved_at=listed_at if outcome == Drift.Outcome.ADOPTED else None,
        )
        label = Drift.Field(field).label
        audit_record(
            action="resource.drift",
            target=resource,
            message=f"{label}: Canopy recorded {recorded or 'nothing'}, the provider reports "
            f"{reported or 'nothing'} ({Drift.Outcome(outcome).label.lower()})",
            order_id=resource.order_id,
        )
        found += 1
    return "drift" if found else ""


def _launched_at(obj: CloudObject) -> datetime | None:
    try:
        return datetime.fromisoformat(str(obj.attributes.get("launched_at") or ""))
    except ValueError:
        return None


@transaction.atomic
def _reconcile_record(account: CloudAccount, reported: list[CloudObject]) -> int:
    """Report the objects no resource accounts for (Canopy-named leftovers, and servers launched
    outside Canopy, which may be adopted); returns their number."""
    known = set(
        Resource.objects.filter(cloud_account=account)
        .exclude(state=R.DELETED)
        .values_list("kind", "external_id")
    )
    # An object named after a resource still being created is in flight, not unknown.
    in_flight = {
        resource.canopy_tag
        for resource in Resource.objects.filter(
            cloud_account=account, state__in=[R.PLANNED, R.PROVISIONING, R.DELETING]
        ).only("pk")
    }
    now = timezone.now()
    unknown = [
        o for o in reported if (o.kind, o.external_id) not in known and o.name not in in_flight
    ]
    for obj in unknown:
        _, created = UnknownObject.objects.update_or_create(
            account=account,
            kind=obj.kind,
            external_id=obj.external_id,
            defaults={
                "name": obj.name,
                "state": obj.state,
                "size": str(obj.attributes.get("size") or ""),
                "tags": obj.attributes.get("tags") or {},
                "launched_at": _launched_at(obj),
                "last_seen": now,
            },
        )
        if created:
            audit_record(
                action="provider.unknown_object",
                target=account,
                message=f"{obj.kind} {obj.external_id} named {obj.name} is not a Canopy resource",
            )
    UnknownObject.objects.filter(account=account).exclude(
        external_id__in=[o.external_id for o in unknown]
    ).delete()
    return len(unknown)


def unknown_server_adopt(
    *, unknown: UnknownObject, order: Order, observe_only: bool, user: AbstractUser
) -> Resource:
    """Make a server launched outside Canopy a resource of the order's project, as the provider
    last reported it; billed from now on (a created event, and a stopped one if it is off).
    Called inside the adopting transaction, with `unknown` locked."""
    if unknown.kind != "server":
        raise ValidationError(
            {"objects": [f"Only servers are adopted; {unknown.name} is a {unknown.kind}."]}
        )
    if unknown.name.startswith(TAG_PREFIX):
        raise ValidationError({"objects": [f"{unknown.name} is a leftover of Canopy: delete it."]})
    state = POWER_STATES.get(unknown.state)
    if state is None:
        raise ValidationError(
            {
                "objects": [
                    f"{unknown.name} is {unknown.state}: adopt it once it runs or is stopped."
                ]
            }
        )
    resource = Resource.objects.create(
        order=order,
        project=order.project,
        cloud_account=unknown.account,
        key="adopted",
        kind="server",
        name=unknown.name,
        properties={"size": unknown.size, "tags": unknown.tags},
        state=state,
        external_id=unknown.external_id,
        observe_only=observe_only,
        status_message="adopted" + (" to be observed only" if observe_only else ""),
    )
    events = [_event(resource, ResourceEvent.Kind.CREATED)]
    if state == R.STOPPED:
        events.append(_event(resource, ResourceEvent.Kind.STOPPED))
    ResourceEvent.objects.bulk_create(events)
    audit_record(
        action="resource.adopted",
        target=resource,
        actor=user,
        message=f"{unknown.external_id} at {unknown.account.name} into {order.project.name}"
        + (", observe only" if observe_only else ""),
        order_id=order.pk,
    )
    unknown.delete()
    return resource


def reconcile_accounts() -> dict[str, int]:
    totals = {"missing": 0, "drift": 0, "unknown": 0, "unreachable": 0}
    for account_id in CloudAccount.objects.values_list("pk", flat=True):
        try:
            counts = reconcile_account(account_id=account_id)
        except ProviderError:
            totals["unreachable"] += 1  # the next run tries again
            continue
        for name, count in counts.items():
            totals[name] += count
    return totals


# --- sandbox knobs ------------------------------------------------------------------------
@transaction.atomic
def sandbox_set_load(*, resource: Resource, load: str | float) -> None:
    """Set the simulated load ("busy", "idle", a CPU %, "wave:N") of a sandbox server, or of
    an autoscaling group's current and future servers (kept on the account's options)."""
    account = CloudAccount.objects.select_for_update().get(pk=resource.cloud_account_id)
    if account.provider != CloudAccount.Provider.SANDBOX:
        raise ValidationError({"load": ["Only sandbox resources have a simulated load."]})
    if resource.kind not in ("server", "autoscaling_group"):
        raise ValidationError({"load": [f"A {resource.kind} has no load to simulate."]})
    try:
        profile = load_profile(load)
    except ValueError as error:
        raise ValidationError({"load": [str(error)]}) from None
    loads = dict(account.options.get("load") or {})
    # A group's servers follow the group's profile, not one set on them before.
    for server in resource.children.only("pk"):
        loads.pop(server.canopy_tag, None)
    loads[resource.canopy_tag] = profile
    account.options = {**account.options, "load": loads}
    account.save(update_fields=["options"])
