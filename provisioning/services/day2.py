"""Day-2 actions on provisioned resources: start, stop, reboot, resize, snapshot, extend, a
group's desired count and bounds, destroy. Each is checked here (`day2_check`), capacity is
admitted first (`provisioning.signals.capacity_requested`), and workers carry it out as steps;
scaling a group is a small deployment of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django_fsm import can_proceed

from core.services import audit_record
from provisioning.models import Deployment, Resource, ResourceState, Step
from provisioning.selectors import size_info
from provisioning.services.planning import Plan, plan_servers
from provisioning.services.saga import advance, check_perm, destroy_deployment, enqueue
from provisioning.services.transitions import resource_transition
from provisioning.signals import capacity_requested

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order

R = ResourceState
A = Step.Action
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
# What a resource can be destroyed from.
DESTROYABLE = (R.ACTIVE, R.STOPPED, R.ERROR, R.MISSING)


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
    resource_transition(group, group.begin_update, actor=user, message=f"desired {desired}")
    balancers = list(
        Resource.objects.select_for_update().filter(
            order=group.order, kind="load_balancer", state=R.ACTIVE, properties__members=group.key
        )
    )
    for balancer in balancers:
        resource_transition(balancer, balancer.begin_update, message="updating members")
    plan = Plan(deployment)
    if leaving is None and desired > len(current):
        # New servers wait for what the group's first server waited for (its network).
        template = Step.objects.filter(resource__parent=group, action=A.CREATE).first()
        deps = list(template.depends_on.all()) if template else []
        number = group.children.count()
        names = [f"{group.name}-{number + i + 1}" for i in range(desired - len(current))]
        servers = plan_servers(plan, group, names, deps, group.properties)
        members = [plan.step(b, A.SET_MEMBERS, servers) for b in balancers]
        last = servers + members
    else:
        members = [plan.step(b, A.SET_MEMBERS) for b in balancers]
        last = []
        for server in [leaving] if leaving else current[desired:]:
            resource_transition(server, server.begin_delete, actor=user, message="scaling in")
            last.append(plan.step(server, A.DESTROY, members))
    step = plan.step(group, A.SET_DESIRED, last, {"desired": desired})
    plan.save()
    advance(deployment.pk)
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
    check_perm(user, resource)
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
        deployment = destroy_deployment(resource.order, family, change_order=change_order)
        return deployment.steps.get(resource=resource)
    if change_order is None:
        _admit(user, resource, action, params)
    if action == A.SET_DESIRED:
        return _scale(resource, params["desired"], user, change_order=change_order)
    transition = STARTS.get(action, lambda r: r.begin_update)(resource)
    resource_transition(resource, transition, actor=user, message=reason or f"{action} requested")
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
    enqueue([step])
    return step


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
