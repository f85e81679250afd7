"""What billing's tests (and other apps' tests that meter) build their world, resources, events
and metered usage with, and the forecast trend's growing scope (read by the selectors',
services' and pages' tests alike)."""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone

from billing.models import Unit, Usage
from billing.pricing import CENT
from billing.selectors.budgets import BudgetStatus, budget_statuses
from billing.selectors.periods import month_period
from billing.services.metering import meter_backfill, meter_range
from billing.tests.factories import (
    BillingProfileFactory,
    BudgetFactory,
    RateCardFactory,
    RateFactory,
)
from core.tests.factories import (
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
    finance_of,
)
from provisioning.models import Resource, ResourceEvent
from provisioning.tests.factories import CloudAccountFactory, OrderFactory, ServerItemFactory

T0 = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # a Monday 10:00 UTC in a month long gone
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)

# The world's rate card, which the tests' sums are worked out from: servers by size per hour,
# volumes per GB-month, a load balancer per hour, a DNS record per month, a small database
# per hour. No one-time fees, no storage price for a server's disk.
SMALL_HOURLY = Decimal("0.02")
MEDIUM_HOURLY = Decimal("0.04")
LARGE_HOURLY = Decimal("0.08")
RATES = [
    ("server", "small", Unit.HOUR, SMALL_HOURLY),
    ("server", "medium", Unit.HOUR, MEDIUM_HOURLY),
    ("server", "large", Unit.HOUR, LARGE_HOURLY),
    ("volume", "", Unit.GB_MONTH, Decimal("0.10")),
    ("load_balancer", "", Unit.HOUR, Decimal("0.025")),
    ("dns_record", "", Unit.MONTH, Decimal("0.50")),
    ("database", "small", Unit.HOUR, Decimal("0.05")),
]
WEB_SHOP_BUDGET = Decimal("50.00")  # a month
CC_200_BUDGET = Decimal("100.00")  # a month, data-lab's cost center


def billing_world() -> dict:
    """Acme as billing's tests need it, by name: web-shop (cost center CC-100; alice a member,
    bob its manager) and data-lab (CC-200; dave a member, so an outsider to web-shop); carol
    Acme's finance; admin a superuser. The sandbox account serves both
    projects and prices with Acme's default card (RATES); web-shop has a budget, and so has
    CC-200 (data-lab none of its own); linux-vm is the item their orders are of."""
    acme = OrganizationFactory(name="Acme", slug="acme")
    BillingProfileFactory(organization=acme, currency="USD")
    people = {name: UserFactory(username=name) for name in ["alice", "bob", "carol", "dave"]}
    web_shop = ProjectFactory(
        organization=acme,
        name="web-shop",
        slug="web-shop",
        cost_center="CC-100",
        members=[people["alice"]],
        managers=[people["bob"]],
    )
    data_lab = ProjectFactory(
        organization=acme,
        name="data-lab",
        slug="data-lab",
        cost_center="CC-200",
        members=[people["dave"]],
    )
    # After the projects: an organization's role grants its permissions on the projects it has.
    finance_of(acme, people["carol"])
    # A superuser, as the demo's admin: no organization role, so no approver of Acme's.
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    card = RateCardFactory(name="Acme list prices", organization=acme)
    for kind, size, unit, price in RATES:
        RateFactory(rate_card=card, resource_kind=kind, size=size, unit=unit, price=price)
    BudgetFactory(project=web_shop, monthly_amount=WEB_SHOP_BUDGET)
    BudgetFactory(
        project=None, organization=acme, cost_center="CC-200", monthly_amount=CC_200_BUDGET
    )
    return {
        **people,
        "admin": admin,
        "organization": acme,
        "web_shop": web_shop,
        "data_lab": data_lab,
        "sandbox": CloudAccountFactory(name="sandbox", organization=acme),
        "rate_card": card,
        "linux_vm": ServerItemFactory(slug="linux-vm", name="Linux VM"),
    }


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def now_in_month() -> datetime:
    """Twenty minutes into an hour of this month (the 2nd at the earliest), for exact sums."""
    now = timezone.now()
    return max(now, now.replace(day=2)).replace(minute=20, second=0, microsecond=0)


def make_resource(
    world, *, kind="server", user="alice", project="web_shop", parent=None, **properties
):
    """A resource of `user`'s order in `project` (web-shop) on the sandbox, with no events yet."""
    order = parent.order if parent else None
    order = order or OrderFactory(
        item=world["linux_vm"],
        project=world[project],
        requester=world[user],
        cloud_account=world["sandbox"],
        parameters={"name": "web-1", "size": "small"},
    )
    return Resource.objects.create(
        order=order,
        project=world[project],
        cloud_account=world["sandbox"],
        parent=parent,
        kind=kind,
        name=f"{kind}-{Resource.objects.count() + 1}",
        properties=properties,
    )


def event(resource, kind, when, *, size="", quantity=Decimal("1")):
    return ResourceEvent.objects.create(
        resource=resource, kind=kind, at=when, size=size, quantity=quantity
    )


def usage_of(resource) -> dict[datetime, Decimal]:
    return dict(Usage.objects.filter(resource=resource).values_list("hour", "cost"))


def usage_total(rows: QuerySet[Usage]) -> Decimal:
    """The cost of usage rows to the cent, as a report totals them."""
    return rows.aggregate(total=Sum("cost"))["total"].quantize(Decimal("0.01"))


def pricey_server(world) -> Resource:
    """A 'huge' server size at 5.00/h, running from September 1st: web-shop's 50.00 budget goes
    fast."""
    RateFactory(rate_card=world["rate_card"], size="huge", price=Decimal("5"))
    server = make_resource(world, size="huge")
    event(server, "created", SEPTEMBER, size="huge")
    return server


def september_usage(world) -> tuple[Resource, Resource]:
    """web-shop's small server all September, data-lab's large one its last 4 hours; metered:
    the last 4 hours and the first 10."""
    web = make_resource(world, size="small")
    lab = make_resource(world, user="dave", project="data_lab", size="large")
    event(web, "created", SEPTEMBER, size="small")
    event(lab, "created", SEPTEMBER + timedelta(days=29, hours=20), size="large")
    meter_range(
        start=SEPTEMBER + timedelta(days=29, hours=20), end=datetime(2026, 10, 1, tzinfo=UTC)
    )
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=10))
    return web, lab


def october_usage(world) -> dict[str, Resource]:
    """Ten metered hours of October: alice's and bob's resources in web-shop, dave's in data-lab."""
    resources = {
        "alice_vm": make_resource(world, size="small"),
        "bob_disk": make_resource(world, kind="volume", user="bob", size_gb=100),
        "dave_vm": make_resource(world, user="dave", project="data_lab", size="medium"),
    }
    event(resources["alice_vm"], "created", at(0), size="small")
    event(resources["bob_disk"], "created", at(0), quantity=Decimal("100"))
    event(resources["dave_vm"], "created", at(0), size="medium")
    event(resources["dave_vm"], "stopped", at(5))
    meter_range(start=T0, end=at(10))
    return resources


# --- The forecast's trend: web-shop grows by a small server a day ------------------------------

TREND_NOW = datetime(2026, 10, 22, tzinfo=UTC)  # midnight: metered to the hour, nothing accrued
GROWTH_DAYS = 21  # one more small server each day, three weeks long


def grow(world, *, first_day: datetime, days: int, now: datetime) -> None:
    """web-shop gets one more small server at midnight each day from `first_day`, metered."""
    for n in range(days):
        server = make_resource(world, size="small")
        event(server, "created", first_day + timedelta(days=n), size="small")
    meter_backfill(start=first_day, end=now)


def web_shop_status(now: datetime) -> BudgetStatus:
    (status,) = [
        s
        for s in budget_statuses(month=now.date(), now=now)
        if s.budget.project and s.budget.project.slug == "web-shop"
    ]
    return status


def run_rate_forecast(status: BudgetStatus, now: datetime) -> Decimal:
    """The forecast without a trend: spent + accrued + what runs now for the hours left."""
    hours_left = Decimal((month_period(now.date()).end - now).total_seconds()) / 3600
    return status.spent + status.accrued + status.run_rate * hours_left


def expected_trend(now: datetime) -> Decimal:
    """The trend's formula over the daily costs `grow` makes: on day d of the growth, d small
    servers ran all day."""
    first = (now - timedelta(days=GROWTH_DAYS)).date()

    def daily(day: date) -> Decimal:
        return ((day - first).days + 1) * 24 * SMALL_HOURLY

    last = sum(daily(now.date() - timedelta(days=n)) for n in range(1, 8))
    before = sum(daily(now.date() - timedelta(days=n)) for n in range(8, 15))
    growth = (last - before) / 49
    days_left = Decimal((month_period(now.date()).end - now).total_seconds()) / 86400
    return growth * days_left * days_left / 2
