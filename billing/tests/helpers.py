"""What billing's tests (and other apps' tests that meter) build resources, events and metered
usage with, and the forecast trend's growing scope (read by the selectors', services' and
pages' tests alike)."""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone

from billing.models import Rate, Usage
from billing.pricing import CENT
from billing.selectors.budgets import BudgetStatus, budget_statuses
from billing.selectors.periods import month_period
from billing.services.metering import meter_backfill, meter_range
from provisioning.models import CloudAccount, Resource, ResourceEvent
from provisioning.tests.factories import OrderFactory

T0 = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # a Monday 10:00 UTC in a month long gone
SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)
SMALL_HOURLY = Decimal("0.02")  # the demo card's small server


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def now_in_month() -> datetime:
    """Twenty minutes into an hour of this month (the 2nd at the earliest), for exact sums."""
    now = timezone.now()
    return max(now, now.replace(day=2)).replace(minute=20, second=0, microsecond=0)


def make_resource(
    demo, *, kind="server", user="alice", project="web_shop", parent=None, **properties
):
    """A resource of `user`'s order in `project` (web-shop), with no events yet."""
    order = parent.order if parent else None
    account = CloudAccount.objects.get(name="sandbox")
    order = order or OrderFactory(
        item=demo["linux_vm"],
        project=demo[project],
        requester=demo[user],
        cloud_account=account,
        parameters={"name": "web-1", "size": "small"},
    )
    return Resource.objects.create(
        order=order,
        project=demo[project],
        cloud_account=account,
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


def pricey_server(demo) -> Resource:
    """A 'huge' server size at 5.00/h, running from September 1st: web-shop's 50.00 budget goes
    fast."""
    card = Rate.objects.get(resource_kind="server", size="small").rate_card
    Rate.objects.create(rate_card=card, resource_kind="server", size="huge", price=Decimal("5"))
    server = make_resource(demo, size="huge")
    event(server, "created", SEPTEMBER, size="huge")
    return server


def september_usage(demo) -> tuple[Resource, Resource]:
    """web-shop's small server all September, data-lab's large one its last 4 hours; metered:
    the last 4 hours and the first 10."""
    web = make_resource(demo, size="small")
    lab = make_resource(demo, user="dave", project="data_lab", size="large")
    event(web, "created", SEPTEMBER, size="small")
    event(lab, "created", SEPTEMBER + timedelta(days=29, hours=20), size="large")
    meter_range(
        start=SEPTEMBER + timedelta(days=29, hours=20), end=datetime(2026, 10, 1, tzinfo=UTC)
    )
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=10))
    return web, lab


def october_usage(demo) -> dict[str, Resource]:
    """Ten metered hours of October: alice's and bob's resources in web-shop, dave's in data-lab."""
    resources = {
        "alice_vm": make_resource(demo, size="small"),
        "bob_disk": make_resource(demo, kind="volume", user="bob", size_gb=100),
        "dave_vm": make_resource(demo, user="dave", project="data_lab", size="medium"),
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


def grow(demo, *, first_day: datetime, days: int, now: datetime) -> None:
    """web-shop gets one more small server at midnight each day from `first_day`, metered."""
    for n in range(days):
        server = make_resource(demo, size="small")
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
