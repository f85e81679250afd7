"""factory_boy factories for the catalog: categories, items (one server by default) and orders.

An order is made as a person makes one, through `catalog.services.order_submit` (the item's
form checked, the plan pinned, the quote from the rate card), so a test gets the order the
product would have saved; `order_admit` then runs the admission a worker would. The sandbox
account and its rate card come with `OrderingFactory`, the world an order needs.
"""

from decimal import Decimal

import factory

from billing.models import Rate, RateCard, Unit
from catalog.models import CatalogItem, Category, Order
from catalog.services import order_submit
from core.tests.factories import ProjectFactory, UserFactory
from provisioning.models import CloudAccount

# A one-server item: a name and a size (the sandbox's small, medium, large).
SERVER_PARAMETERS = {
    "type": "object",
    "required": ["name", "size"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "title": "Server name", "pattern": "^[a-z][a-z0-9-]{1,30}$"},
        "size": {"type": "string", "title": "Size", "x-options": "sizes"},
    },
}
SERVER_RESOURCES = [
    {"key": "vm", "kind": "server", "name": "{name}", "properties": {"size": "{size}"}}
]
# Hourly list prices of the sandbox's sizes (730 hours a month: small is 29.20 a month).
SERVER_PRICES = {"small": Decimal("0.04"), "medium": Decimal("0.08"), "large": Decimal("0.16")}


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class CatalogItemFactory(factory.django.DjangoModelFactory):
    """An item open to everybody (no entitlements) unless `organizations=[…]`/`projects=[…]`."""

    class Meta:
        model = CatalogItem
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"item-{n}")
    name = factory.Sequence(lambda n: f"Item {n}")
    category = factory.SubFactory(CategoryFactory)
    parameters = factory.LazyFunction(lambda: dict(SERVER_PARAMETERS))
    resources = factory.LazyFunction(lambda: [dict(spec) for spec in SERVER_RESOURCES])

    @factory.post_generation
    def organizations(self, create: bool, organizations: list | None, **kwargs) -> None:
        if organizations:
            self.organizations.set(organizations)

    @factory.post_generation
    def projects(self, create: bool, projects: list | None, **kwargs) -> None:
        if projects:
            self.projects.set(projects)


class SandboxAccountFactory(factory.django.DjangoModelFactory):
    """A sandbox cloud account of the project's organization, offered to `projects=[…]`, with
    a published rate card pricing its servers (SERVER_PRICES)."""

    class Meta:
        model = CloudAccount
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"sandbox-{n}")
    organization = factory.SubFactory("core.tests.factories.OrganizationFactory")
    provider = CloudAccount.Provider.SANDBOX

    @factory.post_generation
    def projects(self, create: bool, projects: list | None, **kwargs) -> None:
        if projects:
            self.projects.set(projects)

    @factory.post_generation
    def rates(self, create: bool, extracted, **kwargs) -> None:
        card = RateCard.objects.create(
            cloud_account=self, name=f"{self.name} prices", currency="USD", is_draft=False
        )
        Rate.objects.bulk_create(
            Rate(rate_card=card, resource_kind="server", size=size, unit=Unit.HOUR, price=price)
            for size, price in SERVER_PRICES.items()
        )


class OrderingFactory(factory.Factory):
    """The world one order needs: a project with a member (the requester) and a manager (who
    approves), a sandbox account with prices, and a one-server item. A plain dict:
    `requester`, `manager`, `project`, `account`, `item`."""

    class Meta:
        model = dict

    requester = factory.SubFactory(UserFactory)
    manager = factory.SubFactory(UserFactory)
    project = factory.LazyAttribute(
        lambda o: ProjectFactory(members=[o.requester], managers=[o.manager])
    )
    account = factory.LazyAttribute(
        lambda o: SandboxAccountFactory(organization=o.project.organization, projects=[o.project])
    )
    item = factory.SubFactory(CatalogItemFactory)


class OrderFactory(factory.django.DjangoModelFactory):
    """A submitted order of `item` for `project` by `requester` (one-server parameters by
    default), made by `order_submit`. Without those, an `OrderingFactory` world gives them."""

    class Meta:
        model = Order

    class Params:
        world = factory.LazyFunction(OrderingFactory)

    requester = factory.LazyAttribute(lambda o: o.world["requester"])
    project = factory.LazyAttribute(lambda o: o.world["project"])
    item = factory.LazyAttribute(lambda o: o.world["item"])
    parameters = factory.Sequence(lambda n: {"name": f"web-{n}", "size": "small"})

    @classmethod
    def _create(cls, model_class, *, requester, project, item, parameters, **kwargs) -> Order:
        return order_submit(user=requester, item=item, project=project, parameters=parameters)
