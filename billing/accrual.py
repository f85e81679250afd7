"""What runs now and what it has cost since the last metered hour: estimated until metered.

Metering writes an hour once it has ended, so without this a report of the current month misses
everything since then (a fresh install: everything). The accrual prices each live resource in
its current state with the same PriceBook as metering, from the end of the last metered hour (or
its creation) until now: one query for the resources, one for the rates, whatever their number.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Sum, When
from django.db.models.fields.json import KeyTextTransform

from billing.models import Usage
from billing.pricing import HOURS_PER_MONTH, ZERO, HourlyPrice, PriceBook, billed_kind
from provisioning.models import Resource, ResourceEvent, ResourceState

E = ResourceEvent.Kind
# The events that say whether a resource runs; `resized` changes its size, not its state.
STATE_EVENTS = [E.CREATED, E.STARTED, E.STOPPED, E.DELETED]
SIZE_EVENTS = [E.CREATED, E.RESIZED]
RUNNING_AFTER = {E.CREATED: True, E.STARTED: True, E.STOPPED: False}
HOUR = timedelta(hours=1)
# Resources that no longer exist; their rows are skipped before any event is read.
GONE = [ResourceState.DELETED, ResourceState.MISSING]
SECONDS_PER_HOUR = Decimal(3600)


# Whom a resource's cost is charged to: a usage column (and RunningCost attribute) → the path
# of a resource's `values()` that holds it. Metering and the accrual read and charge alike.
CHARGE_TO: dict[str, str] = {
    "organization_id": "project__organization_id",
    "project_id": "project_id",
    "cost_center": "project__cost_center",
    "user_id": "order__requester_id",
    "catalog_item_id": "order__item_id",
    "cloud_account_id": "cloud_account_id",
    "provider": "cloud_account__provider",
}


def charged_to(row: dict) -> dict:
    """The charge-to columns of a resource read with `values(*CHARGE_TO.values())`."""
    return {column: row[path] for column, path in CHARGE_TO.items()}


def last_event(field: str, kinds: list[str], before: datetime) -> Subquery:
    """The `field` of the resource's latest event of `kinds` before a moment (correlated)."""
    return Subquery(
        ResourceEvent.objects.filter(resource_id=OuterRef("pk"), kind__in=kinds, at__lt=before)
        .order_by("-at", "-id")
        .values(field)[:1]
    )


@dataclass(slots=True)
class RunningCost:
    """One live resource: its price per hour as it is now and what it accrued in the window.
    Attribute names are the usage columns reports group by (`selectors.GROUPS`)."""

    resource_id: int
    organization_id: int
    project_id: int
    cost_center: str
    user_id: int | None
    catalog_item_id: int | None
    cloud_account_id: int
    provider: str
    kind: str
    size: str
    running: bool
    hourly: Decimal
    accrued: Decimal
    unpriced: bool
    # Created since the last metered hour: no usage row has it yet, only this estimate.
    new: bool = False

    @property
    def monthly(self) -> Decimal:
        """The run rate: this price for a whole month (730 hours, as quotes count)."""
        return self.hourly * HOURS_PER_MONTH


def running_costs(
    *, resources: QuerySet[Resource], start: datetime, end: datetime, now: datetime
) -> list[RunningCost]:
    """The live resources among `resources` (created before `now`, not deleted) with their price
    per hour and what they accrued in [start, end) after the last metered hour and before `now`
    (the present: gone resources are left out by their state, not only by their events).

    Most of an estate did nothing since the last metered hour: what it runs now is what that
    hour's usage row says (state, size, price, whom it is charged to), read in one indexed scan.
    The few resources with an event since that hour began (created, stopped, resized, deleted)
    are read from their events (`_changed_costs`); with no metered hour yet, all of them are.
    (So a resource is priced as its last hour was metered: a price version that starts since
    reaches the accrual with the next metered hour; one that costs nothing has no row, and no
    accrual to add.)"""
    metered_hour = last_metered_hour(now)
    live = resources.exclude(state__in=GONE)
    if metered_hour is None:
        return _changed_costs(live, start, end, now)
    changed = _changed_since(metered_hour, now)
    costs = _changed_costs(live.filter(pk__in=changed), start, end, now)
    share = _share(metered_hour, start, end, now)
    rows = (
        Usage.objects.filter(hour=metered_hour, resource__in=live)
        .exclude(resource_id__in=changed)
        .values_list(
            "resource_id",
            *CHARGE_TO,
            "kind",
            "size",
            "running_hours",
            "rate",
            "idle_rate",
            "unpriced",
        )
    )
    for resource_id, *charge_to, kind, size, running_hours, rate, idle, unpriced in rows:
        # No event in that hour: it ran all of it, or was stopped all of it.
        hourly = rate if running_hours > 0 else idle
        costs.append(
            RunningCost(
                resource_id=resource_id,
                **dict(zip(CHARGE_TO, charge_to, strict=True)),
                kind=kind,
                size=size,
                running=running_hours > 0,
                hourly=hourly,
                accrued=hourly * share,
                unpriced=unpriced,
            )
        )
    return costs


def last_metered_hour(now: datetime) -> datetime | None:
    """The latest hour metered before `now` (every resource of an hour is metered together)."""
    return (
        Usage.objects.filter(hour__lt=now).order_by("-hour").values_list("hour", flat=True).first()
    )


def last_metered_hour_subquery(now: datetime) -> Subquery:
    """`last_metered_hour` as a scalar subquery, to read along with other rows."""
    return Subquery(Usage.objects.filter(hour__lt=now).order_by("-hour").values("hour")[:1])


def _changed_since(metered_hour: datetime, now: datetime) -> QuerySet:
    """The ids of the resources with an event since the metered hour began."""
    return ResourceEvent.objects.filter(at__gte=metered_hour, at__lt=now).values("resource_id")


def _share(metered_hour: datetime, start: datetime, end: datetime, now: datetime) -> Decimal:
    """The part of an hour that what ran unchanged since the metered hour accrued in [start,
    end) before `now`."""
    since = max(metered_hour + HOUR, start)
    window = (min(end, now) - since).total_seconds()
    return Decimal(window) / SECONDS_PER_HOUR if window > 0 else ZERO


# Whom reports and budgets charge what runs: the columns `running_totals` sums by.
PAYER = ("organization_id", "project_id", "cost_center", "user_id")


@dataclass(slots=True)
class RunningTotal:
    """What runs now, charged to one project, cost center and requester, summed: per hour, what
    it accrued, and how many of its resources no rate card prices. Reports and budgets group
    these as they group `RunningCost`s, by any column of `PAYER`."""

    organization_id: int
    project_id: int
    cost_center: str
    user_id: int | None
    hourly: Decimal = ZERO
    accrued: Decimal = ZERO
    unpriced: int = 0
    # Never: it sums resources (chargeback's paging by resource asks `RunningCost.new`).
    new: bool = False


def running_totals(
    *, start: datetime, end: datetime, now: datetime
) -> tuple[datetime | None, list[RunningTotal]]:
    """`running_costs` of every resource summed by `PAYER`, and the metered hour they start
    from. What did nothing since that hour is summed by the database from the hour's usage rows
    (one GROUP BY, no row per resource read); the few resources with an event since are priced
    from their events, as `running_costs` prices them."""
    metered_hour = last_metered_hour(now)
    live = Resource.objects.exclude(state__in=GONE)
    totals: dict[tuple, RunningTotal] = {}

    def add(payer: tuple, hourly: Decimal, accrued: Decimal, unpriced: int) -> None:
        total = totals.setdefault(payer, RunningTotal(*payer))
        total.hourly += hourly
        total.accrued += accrued
        total.unpriced += unpriced

    if metered_hour is None:
        costs = _changed_costs(live, start, end, now)
    else:
        changed = _changed_since(metered_hour, now)
        costs = _changed_costs(live.filter(pk__in=changed), start, end, now)
        share = _share(metered_hour, start, end, now)
        # No event in that hour: each ran all of it at its rate, or stood stopped at its idle rate.
        hourly = Case(When(running_hours__gt=0, then=F("rate")), default=F("idle_rate"))
        rows = (
            Usage.objects.filter(hour=metered_hour)
            .exclude(resource__state__in=GONE)
            .exclude(resource_id__in=changed)
            .values_list(*PAYER)
            .annotate(hourly=Sum(hourly), unpriced=Count("pk", filter=Q(unpriced=True)))
            .order_by()
        )
        for *payer, hourly_sum, unpriced in rows:
            add(tuple(payer), hourly_sum, hourly_sum * share, unpriced)
    for cost in costs:
        add(
            tuple(getattr(cost, column) for column in PAYER),
            cost.hourly,
            cost.accrued,
            int(cost.unpriced),
        )
    return metered_hour, list(totals.values())


def _changed_costs(
    resources: QuerySet[Resource], start: datetime, end: datetime, now: datetime
) -> list[RunningCost]:
    """`running_costs` of resources read from their events: one query (the state, size and
    creation from correlated subqueries on the events, the last metered hour from one scalar
    subquery on usage: every resource of an hour is metered together), one for the rates."""
    rows = list(
        resources.annotate(
            # The one property pricing reads (a root disk's GB), not the whole JSON document.
            disk_gb=KeyTextTransform("disk_gb", "properties"),
            state_event=last_event("kind", STATE_EVENTS, now),
            current_size=last_event("size", SIZE_EVENTS, now),
            current_quantity=last_event("quantity", SIZE_EVENTS, now),
            created=Subquery(
                ResourceEvent.objects.filter(resource_id=OuterRef("pk"), kind=E.CREATED, at__lt=now)
                .order_by("at")
                .values("at")[:1]
            ),
            metered_hour=last_metered_hour_subquery(now),
        ).values(
            "pk",
            "kind",
            "parent__kind",
            "disk_gb",
            *CHARGE_TO.values(),
            "cloud_account__organization_id",
            "state_event",
            "current_size",
            "current_quantity",
            "created",
            "metered_hour",
        )
    )
    book = PriceBook(
        {row["cloud_account_id"] for row in rows},
        account_organizations={
            row["cloud_account_id"]: row["cloud_account__organization_id"] for row in rows
        },
    )
    window_end = min(end, now)
    prices: dict[tuple, HourlyPrice] = {}  # most resources share a few prices
    return [
        _running_cost(row, book, prices, start, window_end, now)
        for row in rows
        # Not created yet (planned, provisioning), or deleted by `now`: nothing runs.
        if row["created"] is not None and row["state_event"] != E.DELETED
    ]


def _running_cost(
    row: dict,
    book: PriceBook,
    prices: dict[tuple, HourlyPrice],
    start: datetime,
    window_end: datetime,
    now: datetime,
) -> RunningCost:
    kind = billed_kind(kind=row["kind"], parent_kind=row["parent__kind"])
    size = row["current_size"] or ""
    key = (row["cloud_account_id"], kind, size, row["current_quantity"], row["disk_gb"])
    price = prices.get(key)
    if price is None:
        price = prices[key] = book.hourly(
            cloud_account_id=row["cloud_account_id"],
            kind=kind,
            size=size,
            quantity=row["current_quantity"] or Decimal("1"),
            properties={"disk_gb": row["disk_gb"]} if row["disk_gb"] else {},
            on=now.date(),
        )
    running = RUNNING_AFTER.get(row["state_event"], False)
    hourly = price.running if running else price.idle
    created = row["created"]
    metered_until = row["metered_hour"] + HOUR if row["metered_hour"] else created
    since = max(metered_until, created, start)
    accrued = ZERO
    new = created == since  # created since the last metered hour (and in the window)
    if window_end > since:
        accrued = hourly * Decimal((window_end - since).total_seconds()) / SECONDS_PER_HOUR
        if new:
            accrued += price.one_time  # its fee is due too
    return RunningCost(
        resource_id=row["pk"],
        **charged_to(row),
        kind=kind,
        size=size,
        running=running,
        hourly=hourly,
        accrued=accrued,
        unpriced=not price.priced,
        new=new,
    )


def total(costs: Iterable[RunningCost | RunningTotal]) -> tuple[Decimal, Decimal]:
    """(accrued, per hour) of some running costs."""
    accrued = hourly = ZERO
    for cost in costs:
        accrued += cost.accrued
        hourly += cost.hourly
    return accrued, hourly
