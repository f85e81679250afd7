"""Planning a deployment: an order's pinned resources as a graph of steps (network → servers
and volumes → load balancer → DNS; a database's or an autoscaling group's servers before it),
or the graph that deletes resources in reverse. Plans are only written here; `saga` runs them."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

from provisioning.models import Deployment, Resource, ResourceState, Step
from provisioning.services.transitions import resources_transition

R = ResourceState
A = Step.Action
# Spec properties naming one copy of another spec (copy i binds to copy i); other references
# (load balancer members, networks) bind to every copy.
INDEXED_REFERENCES = {"volume": "attach_to", "dns_record": "target"}


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


class Plan:
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


def plan_servers(
    plan: Plan, parent: Resource, names: Iterable[str], deps: list[Step], props: dict
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


def _plan_spec_copy(plan: Plan, spec: dict, name: str, deps: list[Step]) -> Step:
    """Plan one copy of a spec; returns the step that dependents wait for."""
    kind, props = spec["kind"], dict(spec["properties"])
    parent = plan.resource(kind=kind, key=spec["key"], name=name, properties=props)
    if kind == "database":
        parent.secret = {"user": "canopy", "password": secrets.token_urlsafe(18)}
        servers = plan_servers(plan, parent, [f"{name}-server"], deps, props)
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
        servers = plan_servers(plan, parent, names, deps, props)
        return plan.step(parent, A.CREATE, servers)
    return plan.step(parent, A.CREATE, deps)


def plan_create(deployment: Deployment, specs: list[dict]) -> None:
    plan = Plan(deployment)
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


def plan_destroy(deployment: Deployment, resources: list[Resource]) -> None:
    """Delete steps in reverse of the create graph: what depended on X goes before X. A
    composite (database, autoscaling group) goes after its servers."""
    resources_transition(
        [r for r in resources if r.state != R.DELETING],
        lambda r: r.begin_delete,
        message="deleting",
    )
    plan = Plan(deployment)
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
