"""The audited writes every provisioning service shares: a resource's or a deployment's
lifecycle change (audited, and announced by `lifecycle_changed`, through
`core.services.audited_transitions`: one INSERT per order however many rows change), columns
written in one statement, and the billable event of a resource's change."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import connection
from django.utils import timezone

from core.services import audited_transition, audited_transitions
from provisioning.models import Deployment, DeploymentState, Resource, ResourceEvent
from provisioning.providers.base import KINDS
from provisioning.signals import change_deployment_finished

D = DeploymentState


def resources_transition(
    resources: list[Resource],
    transition: Callable[[Resource], Callable[[], None]],
    *,
    actor: AbstractUser | None = None,
    message: str = "",
    fields: tuple[str, ...] = (),
) -> None:
    """Move resources through `transition(resource)` (their lifecycle methods): per order, one
    UPDATE and one audit INSERT, whatever their number. `fields` are other columns to write,
    whose values (like the transitions' targets) may differ from one resource to the next."""
    by_order: dict[int, list[Resource]] = {}
    for resource in resources:
        by_order.setdefault(resource.order_id, []).append(resource)
    now = timezone.now()
    for order_id, group in by_order.items():
        with audited_transitions(
            group,
            field="state",
            action="resource.state",
            actor=actor,
            message=message,
            order_id=order_id,
        ):
            for resource in group:
                transition(resource)()  # checks each resource's source state
                resource.state_changed_at = now
                resource.status_message = message
            # Written before the receivers of the change run: they may query the resources.
            if fields:
                save_rows(group, ("state", "state_changed_at", "status_message", *fields))
            else:  # one transition, one target: one UPDATE writes the same values to all
                Resource.objects.filter(pk__in=[r.pk for r in group]).update(
                    state=group[0].state, state_changed_at=now, status_message=message
                )


def resource_transition(
    resource: Resource,
    transition: Callable[[], None],
    *,
    actor: AbstractUser | None = None,
    message: str = "",
) -> None:
    """`resources_transition` of one resource; `transition` is its bound lifecycle method."""
    resources_transition([resource], lambda r: transition, actor=actor, message=message)


def save_rows(resources: list[Resource], names: tuple[str, ...]) -> None:
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


def deployment_transition(
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


def resource_event(resource: Resource, kind: str) -> ResourceEvent | None:
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
