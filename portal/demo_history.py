"""Three months of plausible cost history for the demo organization, so that finance's first look
at Costs shows trends, top spenders, closed statements and a budget alert, not an empty page.

Orders, resources and their lifecycle events (creations, a resize, stops, deletions) are written
in bulk with past dates, as if Canopy had run them; then `billing.services.meter_backfill` meters
every hour since in one pass, the past months' statements are closed and the budgets checked.
Resources still running today keep running (metered hourly from now on, like any other), which
makes this month's forecast follow what runs. Idempotent: the history is built once.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing.models import Rate, RateCard, Unit
from billing.pricing import monthly_quote
from billing.selectors.periods import month_after, month_start
from billing.services.budgets import budget_alerts_send
from billing.services.metering import meter_backfill
from billing.services.statements import statements_close
from catalog.models import CatalogItem, Order, OrderStatus
from core.models import Organization, Project
from provisioning.models import CloudAccount, Resource, ResourceEvent, ResourceState

HISTORY_MONTHS = 3
# A price cut for large servers from the first day of last month: a second version of the
# rate, so the report of two months ago keeps the old price.
LARGE_SERVER_PRICE_CUT = Decimal("0.0750")
# A draft card (prices nothing) to re-price months with: "what if servers cost this?"
DRAFT_SERVER_PRICES = {
    "small": Decimal("0.0180"),
    "medium": Decimal("0.0360"),
    "large": Decimal("0.0700"),
}


@dataclass(frozen=True)
class Past:
    """One historical resource: (month offset from the first history month, day) for its events;
    `deleted` None means it still runs."""

    project: str
    user: str
    item: str
    name: str
    kind: str
    created: tuple[int, int]
    size: str = ""
    size_gb: int = 0
    resized: tuple[tuple[int, int], str] | None = None
    stopped: tuple[int, int] | None = None
    deleted: tuple[int, int] | None = None


HISTORY = [
    # web-shop: two web servers and their data volume run throughout (one resized); a large
    # load-test server for two weeks; a campaign server stopped, then deleted.
    Past("web-shop", "alice", "linux-vm", "shop-web-1", "server", (0, 2), size="small"),
    Past(
        "web-shop",
        "alice",
        "linux-vm",
        "shop-web-2",
        "server",
        (0, 9),
        size="small",
        resized=((1, 14), "medium"),
    ),
    Past("web-shop", "alice", "block-volume", "shop-data", "volume", (0, 2), size_gb=50),
    Past(
        "web-shop", "bob", "linux-vm", "load-test", "server", (1, 4), size="large", deleted=(1, 19)
    ),
    Past(
        "web-shop",
        "alice",
        "linux-vm",
        "campaign",
        "server",
        (2, 2),
        size="medium",
        stopped=(2, 17),
        deleted=(2, 24),
    ),
    # data-lab: an analysis server throughout, a batch server for a month, scratch storage.
    Past("data-lab", "dave", "linux-vm", "analysis-1", "server", (0, 4), size="medium"),
    Past("data-lab", "dave", "linux-vm", "batch-1", "server", (1, 0), size="large", deleted=(2, 9)),
    Past(
        "data-lab",
        "dave",
        "block-volume",
        "scratch",
        "volume",
        (0, 4),
        size_gb=200,
        deleted=(2, 27),
    ),
]


def history_months(today: date) -> list[date]:
    """The first days of the history's months: the three before this one."""
    months = [month_start(today)]
    for _ in range(HISTORY_MONTHS):
        months.insert(0, month_start(months[0] - timedelta(days=1)))
    return months[:-1]


def _at(months: list[date], when: tuple[int, int], hour: int) -> datetime:
    month, day = when
    first = months[month]
    moment = datetime(first.year, first.month, 1, hour, tzinfo=UTC)
    return min(moment + timedelta(days=day), datetime.combine(month_after(first), moment.timetz()))


@transaction.atomic
def seed(*, now: datetime | None = None) -> bool:
    """Build the history once (False when it exists): orders, resources, events, usage rows,
    closed statements of the past months, and this month's budget alerts."""
    now = now or timezone.now()
    acme = Organization.objects.get(slug="acme")
    if Order.objects.filter(project__organization=acme, parameters__history=True).exists():
        return False
    months = history_months(now.date())
    projects = {p.slug: p for p in Project.objects.filter(organization=acme)}
    users = get_user_model().objects.in_bulk({p.user for p in HISTORY}, field_name="username")
    items = CatalogItem.objects.in_bulk({p.item for p in HISTORY}, field_name="slug")
    account = CloudAccount.objects.get(name="sandbox")
    _price_versions(acme, months[-1])

    orders = Order.objects.bulk_create(
        Order(
            item=items[past.item],
            project=projects[past.project],
            requester=users[past.user],
            cloud_account=account,
            parameters={"name": past.name, "history": True} | _properties(past),
            estimated_monthly_cost=monthly_quote(
                cloud_account_id=account.pk,
                resources=[{"kind": past.kind, "properties": _properties(past)}],
            ),
            status=OrderStatus.COMPLETED,
        )
        for past in HISTORY
    )
    resources = Resource.objects.bulk_create(
        Resource(
            order=order,
            project=order.project,
            cloud_account=account,
            kind=past.kind,
            name=past.name,
            key=past.kind,
            properties=_properties(past),
            state=ResourceState.DELETED if past.deleted else ResourceState.ACTIVE,
        )
        for past, order in zip(HISTORY, orders, strict=True)
    )
    events = []
    for past, order, resource in zip(HISTORY, orders, resources, strict=True):
        created = _at(months, past.created, 9)
        # When it happened, not when the demo was seeded.
        Order.objects.filter(pk=order.pk).update(created_at=created - timedelta(hours=1))
        Resource.objects.filter(pk=resource.pk).update(created_at=created)
        quantity = Decimal(past.size_gb) if past.kind == "volume" else Decimal(1)
        events.append(_event(resource, "created", created, past.size, quantity))
        if past.resized:
            when, size = past.resized
            events.append(_event(resource, "resized", _at(months, when, 14), size, quantity))
            Resource.objects.filter(pk=resource.pk).update(properties={"size": size})
        if past.stopped:
            events.append(_event(resource, "stopped", _at(months, past.stopped, 18), "", quantity))
        if past.deleted:
            events.append(_event(resource, "deleted", _at(months, past.deleted, 17), "", quantity))
    ResourceEvent.objects.bulk_create(events)

    start = datetime(months[0].year, months[0].month, 1, tzinfo=UTC)
    meter_backfill(start=start, end=now)
    for month in months:
        statements_close(month=month)
    budget_alerts_send(month=month_start(now.date()), now=now)
    return True


def _properties(past: Past) -> dict:
    return {"size": past.size} if past.size else {"size_gb": past.size_gb}


def _event(
    resource: Resource, kind: str, at: datetime, size: str, quantity: Decimal
) -> ResourceEvent:
    return ResourceEvent(
        resource=resource,
        kind=kind,
        at=at,
        size=size if resource.kind == "server" else "",
        quantity=quantity,
        properties=resource.properties,
    )


def _price_versions(organization: Organization, since: date) -> None:
    """A second version of the large server's price, effective from `since` (last month), and a
    draft card of next year's server prices for what-if reports."""
    card = RateCard.objects.get(organization=organization, cloud_account=None, is_draft=False)
    Rate.objects.update_or_create(
        rate_card=card,
        resource_kind="server",
        size="large",
        unit=Unit.HOUR,
        effective_from=since,
        defaults={"price": LARGE_SERVER_PRICE_CUT},
    )
    draft, _ = RateCard.objects.get_or_create(
        organization=organization,
        is_draft=True,
        name="Acme server prices next year",
        defaults={"currency": card.currency},
    )
    for size, price in DRAFT_SERVER_PRICES.items():
        Rate.objects.update_or_create(
            rate_card=draft,
            resource_kind="server",
            size=size,
            unit=Unit.HOUR,
            defaults={"price": price},
        )
