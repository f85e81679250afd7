"""factory_boy factories for provisioning's models: cloud accounts, the orders' resources,
deployments and steps, drifts, and the sandbox's own objects.

Built on the ground's factories (`core.tests.factories`). A resource belongs to an order, a
row of catalog (the app above): `OrderFactory` names catalog's models by string, as
provisioning's models do, and builds the least an order needs (an item of a category).
`deployed_server()` gives a server as a finished deployment leaves it: active, with its twin
in the sandbox cloud, so the reconciler and day-2 actions find it.
"""

import uuid

import factory
from django.utils import timezone

from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory
from provisioning.models import (
    CloudAccount,
    Deployment,
    Drift,
    Resource,
    ResourceState,
    SandboxObject,
    Step,
)


class CloudAccountFactory(factory.django.DjangoModelFactory):
    """A sandbox account of its own organization (no projects listed: it serves them all)."""

    class Meta:
        model = CloudAccount

    name = factory.Sequence(lambda n: f"sandbox-{n}")
    organization = factory.SubFactory(OrganizationFactory)
    provider = CloudAccount.Provider.SANDBOX


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "catalog.Category"
        django_get_or_create = ("slug",)

    name = "Compute"
    slug = "compute"


class CatalogItemFactory(factory.django.DjangoModelFactory):
    """An item of one server (the resource template its orders pin)."""

    class Meta:
        model = "catalog.CatalogItem"

    slug = factory.Sequence(lambda n: f"item-{n}")
    name = factory.Sequence(lambda n: f"Item {n}")
    category = factory.SubFactory(CategoryFactory)
    resources = factory.LazyFunction(
        lambda: [{"key": "vm", "kind": "server", "name": "vm", "properties": {"size": "small"}}]
    )


class OrderFactory(factory.django.DjangoModelFactory):
    """A completed order of a project's member, on an account of the project's organization."""

    class Meta:
        model = "catalog.Order"

    item = factory.SubFactory(CatalogItemFactory)
    project = factory.SubFactory(ProjectFactory)
    requester = factory.SubFactory(UserFactory)
    cloud_account = factory.SubFactory(
        CloudAccountFactory, organization=factory.SelfAttribute("..project.organization")
    )
    status = "completed"


class ResourceFactory(factory.django.DjangoModelFactory):
    """A resource of an order (its project and account); `state` planned unless given."""

    class Meta:
        model = Resource

    order = factory.SubFactory(OrderFactory)
    project = factory.SelfAttribute("order.project")
    cloud_account = factory.SelfAttribute("order.cloud_account")
    key = "vm"
    kind = "server"
    name = factory.Sequence(lambda n: f"vm-{n}")
    properties = factory.LazyFunction(lambda: {"size": "small", "image": "ubuntu-24.04"})


class SandboxObjectFactory(factory.django.DjangoModelFactory):
    """The sandbox cloud's object of a resource, named with its Canopy tag."""

    class Meta:
        model = SandboxObject

    class Params:
        resource = None

    account = factory.LazyAttribute(lambda o: o.resource.cloud_account)
    external_id = factory.LazyAttribute(lambda o: o.resource.external_id)
    name = factory.LazyAttribute(lambda o: o.resource.canopy_tag)
    kind = factory.LazyAttribute(lambda o: o.resource.kind)
    state = "running"
    size = factory.LazyAttribute(lambda o: o.resource.properties.get("size", ""))


def deployed_server(**fields) -> Resource:
    """An active server and its running twin in the sandbox cloud."""
    server = ResourceFactory(
        kind="server",
        state=ResourceState.ACTIVE,
        external_id=f"i-{uuid.uuid4().hex[:12]}",
        **fields,
    )
    SandboxObjectFactory(resource=server)
    return server


class DeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deployment

    order = factory.SubFactory(OrderFactory)
    cloud_account = factory.SelfAttribute("order.cloud_account")
    direction = Deployment.Direction.CREATE


class StepFactory(factory.django.DjangoModelFactory):
    """A step of a deployment over one of its order's resources (a create, pending)."""

    class Meta:
        model = Step

    deployment = factory.SubFactory(DeploymentFactory)
    resource = factory.SubFactory(
        ResourceFactory, order=factory.SelfAttribute("..deployment.order")
    )
    action = Step.Action.CREATE


class DriftFactory(factory.django.DjangoModelFactory):
    """A power drift seen now and still open."""

    class Meta:
        model = Drift

    resource = factory.SubFactory(ResourceFactory, state=ResourceState.ACTIVE)
    field = Drift.Field.POWER
    recorded = "active"
    reported = "stopped"
    outcome = Drift.Outcome.REPORTED
    detected_at = factory.LazyFunction(timezone.now)


# --- Approved orders and their pinned plans (the saga's input) -------------------------------
# A plan is what catalog pins at submit: its items' templates resolved with the order's
# parameters (`catalog.templating.resolve`). Provisioning deploys plans, so its tests write them
# out: the demo's items as their orders pin them on the sandbox.
SANDBOX_SERVER = {"size": "small", "image": "ubuntu-24.04", "location": "sandbox-1a"}


def spec(key: str, kind: str, name: str, *, count: int = 1, depends_on=(), **properties) -> dict:
    """One resolved resource spec of a pinned plan."""
    return {
        "key": key,
        "kind": kind,
        "name": name,
        "count": count,
        "depends_on": list(depends_on),
        "properties": properties,
    }


def server_plan(name: str = "web-1") -> list[dict]:
    """The demo's "linux-vm": one small server."""
    return [spec("vm", "server", name, **SANDBOX_SERVER, ssh_key=None)]


def fleet_plan(count: int, name: str = "fleet") -> list[dict]:
    """`count` identical servers, none waiting for another (the shape `make bench` provisions)."""
    return [spec("web", "server", name, count=count, size="small", image="ubuntu-24.04")]


def web_tier_plan(name: str = "shop", instances: int = 2) -> list[dict]:
    """The demo's "web-tier": a network, `instances` servers each with a data volume, a load
    balancer in front of them and a DNS name for it."""
    return [
        spec("net", "network", f"{name}-net", cidr="10.20.0.0/24", location="sandbox-1a"),
        spec(
            "web", "server", f"{name}-web", count=instances, depends_on=["net"],
            **SANDBOX_SERVER, network="net", user_data="#cloud-config\npackages: [nginx]\n",
        ),
        spec(
            "data", "volume", f"{name}-data", count=instances, depends_on=["web"],
            size_gb=10, attach_to="web",
        ),
        spec(
            "lb", "load_balancer", f"{name}-lb", depends_on=["web"],
            protocol="http", port=80, members="web",
        ),
        spec(
            "dns", "dns_record", f"{name}.apps.example.com", depends_on=["lb"],
            zone="apps.example.com", record=name, target="lb",
        ),
    ]  # fmt: skip


def autoscaling_web_tier_plan(name: str = "shop", instances: int = 2) -> list[dict]:
    """The demo's "autoscaling-web-tier": a group of 1 to 6 servers behind a load balancer."""
    return [
        spec("net", "network", f"{name}-net", cidr="10.30.0.0/24", location="sandbox-1a"),
        spec(
            "group", "autoscaling_group", f"{name}-web", depends_on=["net"],
            **SANDBOX_SERVER, network="net", min=1, max=6, desired=instances,
        ),
        spec(
            "lb", "load_balancer", f"{name}-lb", depends_on=["group"],
            protocol="http", port=80, members="group",
        ),
        spec(
            "dns", "dns_record", f"{name}.apps.example.com", depends_on=["lb"],
            zone="apps.example.com", record=name, target="lb",
        ),
    ]  # fmt: skip


def database_plan(name: str = "orders") -> list[dict]:
    """The demo's "postgresql-db": a database on its own server, its data on a 20 GB volume."""
    return [
        spec(
            "db", "database", name, **SANDBOX_SERVER,
            engine="postgresql", db_name=name, storage_gb=20,
        )
    ]  # fmt: skip


class ApprovedOrderFactory(OrderFactory):
    """An approved order with its plan pinned on its account: `resources` are resolved specs
    (`web_tier_plan()`, …; one server unless given). Start it with `deployment_start`."""

    class Params:
        resources = factory.LazyFunction(server_plan)

    status = "approved"
    plan = factory.LazyAttribute(
        lambda o: {"cloud_account": o.cloud_account.pk, "resources": o.resources}
    )
