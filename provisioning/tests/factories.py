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
from provisioning.tests.plans import server_plan


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


class ApprovedOrderFactory(OrderFactory):
    """An approved order with its plan pinned on its account, as catalog pins it at submit
    (`Order.pin_plan`): `resources` are resolved specs (`provisioning.tests.plans`; one server
    unless given). Start it with `deployment_start`."""

    status = "approved"
    resources = factory.LazyFunction(server_plan)

    @classmethod
    def _create(cls, model_class, *args, resources: list[dict], **fields):
        order = model_class(*args, **fields)
        order.pin_plan(resources=resources)
        order.save()
        return order


# --- For billing's tests (issue 13): an item its orders fill in, as a person orders it -------


class ServerItemFactory(CatalogItemFactory):
    """An item of one server whose order form asks its name and one of the account's sizes."""

    parameters = factory.LazyFunction(
        lambda: {
            "type": "object",
            "required": ["name", "size"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,30}$"},
                "size": {"type": "string", "x-options": "sizes"},
            },
        }
    )
    resources = factory.LazyFunction(
        lambda: [
            {"key": "vm", "kind": "server", "name": "{name}", "properties": {"size": "{size}"}}
        ]
    )
