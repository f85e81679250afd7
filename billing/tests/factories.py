"""factory_boy factories for billing's models: rate cards with their (versioned) rates, budgets,
billing profiles and usage rows. People, organizations and projects come from the ground's
factories (`core.tests.factories`); a usage row's resource from `billing.tests.helpers`."""

from datetime import UTC, date, datetime
from decimal import Decimal

import factory

from billing.models import BillingProfile, Budget, Rate, RateCard, Unit, Usage
from core.tests.factories import OrganizationFactory, ProjectFactory


class BillingProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BillingProfile
        django_get_or_create = ("organization",)

    organization = factory.SubFactory(OrganizationFactory)
    currency = "USD"


class RateCardFactory(factory.django.DjangoModelFactory):
    """An organization's default card (no cloud account); `rates={kind: price per hour}` adds
    one hourly rate per kind from 2000-01-01."""

    class Meta:
        model = RateCard
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Rate card {n}")
    organization = factory.SubFactory(OrganizationFactory)
    currency = "USD"

    @factory.post_generation
    def rates(self, create: bool, prices: dict[str, Decimal] | None, **kwargs) -> None:
        for kind, price in (prices or {}).items():
            RateFactory(rate_card=self, resource_kind=kind, price=Decimal(str(price)))


class RateFactory(factory.django.DjangoModelFactory):
    """One version of a price: a later `effective_from` on the same card is a price change."""

    class Meta:
        model = Rate

    rate_card = factory.SubFactory(RateCardFactory)
    resource_kind = "server"
    size = ""
    unit = Unit.HOUR
    price = Decimal("0.02")
    effective_from = date(2000, 1, 1)


class BudgetFactory(factory.django.DjangoModelFactory):
    """A project's monthly budget (pass `project=None, cost_center=…` for a cost center's)."""

    class Meta:
        model = Budget

    project = factory.SubFactory(ProjectFactory)
    organization = factory.LazyAttribute(
        lambda budget: budget.project.organization if budget.project else OrganizationFactory()
    )
    cost_center = ""
    monthly_amount = Decimal("100.00")


class UsageFactory(factory.django.DjangoModelFactory):
    """One metered hour of `resource` (required: see `billing.tests.helpers.make_resource`),
    charged to its project, at 0.02 for a full running hour unless told otherwise."""

    class Meta:
        model = Usage

    hour = datetime(2026, 10, 5, 10, tzinfo=UTC)
    kind = factory.LazyAttribute(lambda usage: usage.resource.kind)
    hours = Decimal("1")
    running_hours = Decimal("1")
    rate = Decimal("0.02")
    idle_rate = Decimal("0")
    cost = factory.LazyAttribute(lambda usage: usage.running_hours * usage.rate)
    project = factory.LazyAttribute(lambda usage: usage.resource.project)
    organization = factory.LazyAttribute(lambda usage: usage.resource.project.organization)
    cost_center = factory.LazyAttribute(lambda usage: usage.resource.project.cost_center)
    cloud_account = factory.LazyAttribute(lambda usage: usage.resource.cloud_account)
    provider = factory.LazyAttribute(lambda usage: usage.resource.cloud_account.provider)
