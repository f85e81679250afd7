"""Chargeback and showback reports: a period's costs grouped by one dimension, read from the
usage rollups (`access.summary_filtered`), with what runs now accrued on top for the current
period; and the drill-down to one resource's hours. Aggregation happens in the database."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet, Sum
from django.utils import timezone

from billing import accrual
from billing.accrual import RunningCost, RunningTotal
from billing.models import RateCard
from billing.pricing import CENT, HOURS_PER_MONTH, ZERO, PriceBook, billed_kind
from billing.selectors.access import (
    GROUPS,
    group_key,
    resources_visible,
    summary_filtered,
    summary_sums,
    usage_visible,
    user_currency,
)
from billing.selectors.periods import Period, period_includes_now
from billing.selectors.whatif import whatif_costs
from core.models import Organization, Project
from provisioning.models import Resource, ResourceEvent

# What people read for each grouping (page headings, CSV headers, the group-by menu).
GROUP_LABELS: dict[str, str] = {
    "organization": "Organization",
    "project": "Project",
    "cost_center": "Cost center",
    "user": "User",
    "catalog_item": "Catalog item",
    "provider": "Provider",
    "kind": "Kind",
    "resource": "Resource",
}
# Where a click on a row of one grouping leads next (resource rows lead to the events).
DRILL_DOWN: dict[str, str] = {
    "organization": "cost_center",
    "cost_center": "project",
    "project": "resource",
    "user": "resource",
    "catalog_item": "resource",
    "provider": "kind",
    "kind": "resource",
}
# The grouping that grows with the estate (one row per resource): answered a page at a time.
PAGED_GROUPS = {"resource"}


@dataclass
class ReportRow:
    """One group's costs: `cost` metered, `accrued` estimated since the last metered hour (for
    the current period), `run_rate` what it runs now costs a month; `unpriced` counts usage rows
    and live resources no rate card prices (charged 0)."""

    key: str
    label: str
    cost: Decimal
    quantity: Decimal
    running_hours: Decimal
    accrued: Decimal = ZERO
    run_rate: Decimal = ZERO
    unpriced: int = 0
    whatif_cost: Decimal | None = None

    @property
    def cost_with_accrued(self) -> Decimal:
        return self.cost + self.accrued


@dataclass
class ChargebackReport:
    """A period's costs by one grouping. Totals are the whole report's; for a paged grouping
    (by resource) `rows` is one page of `count` rows, by metered cost."""

    period: Period
    group_by: str
    currency: str
    total: Decimal
    rows: list[ReportRow] = field(default_factory=list)
    accrued: Decimal = ZERO
    run_rate: Decimal = ZERO
    # True when the period includes now: `accrued` is then an estimate until metered.
    includes_now: bool = False
    showback: bool = False
    # What runs now, priced (the accrual's rows), for the charts drawn with the report.
    running: list[RunningCost | RunningTotal] = field(default_factory=list)
    # The metered usage re-priced under a draft card (what-if), when one was asked for.
    whatif_card: RateCard | None = None
    whatif_total: Decimal | None = None
    unpriced: int = 0
    count: int = 0
    page: int = 1
    page_size: int | None = None

    @property
    def drill_down(self) -> str | None:
        return DRILL_DOWN.get(self.group_by)

    @property
    def total_with_accrued(self) -> Decimal:
        return self.total + self.accrued

    @property
    def pages(self) -> int:
        return -(-self.count // self.page_size) if self.page_size else 1


def _labels(group_by: str, keys: list) -> dict:
    """Names for the grouped ids, in one query per report."""
    models = {
        "organization": (Organization, "name"),
        "project": (Project, "name"),
        "user": (get_user_model(), "username"),
        "resource": (Resource, "name"),
    }
    if group_by == "catalog_item":  # items are catalog's, above billing: named through orders
        return dict(
            Resource.objects.filter(order__item__in=[k for k in keys if k is not None])
            .values_list("order__item", "order__item__name")
            .distinct()
        )
    if group_by not in models:
        return {key: key for key in keys}
    model, name = models[group_by]
    return dict(
        model.objects.filter(pk__in=[k for k in keys if k is not None]).values_list("pk", name)
    )


def project_names(ids: set[int]) -> dict[int, str]:
    return _labels("project", list(ids))


def filter_labels(filters: dict) -> dict[str, str]:
    """What the drill-down filters name ({"project": "web-shop"}), for the page's heading."""
    return {
        group: str(_labels(group, [value]).get(value, value))
        for group, value in filters.items()
        if value not in (None, "")
    }


def running_filtered(
    *,
    user: AbstractUser,
    period: Period,
    filters: dict,
    now: datetime,
    showback: bool = False,
) -> list[RunningCost]:
    """What runs now among the user's visible resources, with what it accrued in the period
    since the last metered hour (empty unless the period includes now), narrowed by the
    drill-down filters (compared in memory: one query whatever the filters)."""
    if not period_includes_now(period, now):
        return []
    costs = accrual.running_costs(
        resources=resources_visible(user=user, showback=showback),
        start=period.start,
        end=period.end,
        now=now,
    )
    wanted = {
        GROUPS[group]: str(value) for group, value in filters.items() if value not in (None, "")
    }
    return [
        cost
        for cost in costs
        if all(str(getattr(cost, column)) == value for column, value in wanted.items())
    ]


def _page_bounds(page: int | None, page_size: int | None) -> tuple[int, int]:
    size = page_size or settings.REST_FRAMEWORK["PAGE_SIZE"]
    return max(page or 1, 1), size


def chargeback_report(
    *,
    user: AbstractUser,
    period: Period,
    group_by: str,
    filters: dict | None = None,
    showback: bool = False,
    now: datetime | None = None,
    whatif: RateCard | None = None,
    page: int | None = None,
    page_size: int | None = None,
    whole: bool = False,
    running: list[RunningCost | RunningTotal] | None = None,
) -> ChargebackReport:
    """Costs of the period grouped by one dimension, from the rollups: one GROUP BY query, one
    for labels, and for the current period the accrual of what runs now (one query, and one
    for the rates). By resource, one page (`page`, `page_size`) ordered by metered cost, and a
    count. `showback`: the same figures for every member of a project, who is shown costs
    without being charged. `whatif`: a draft card to re-price the metered usage with. `whole`:
    every row, unpaged (the summary CSV). `running`: what runs now among the costs the user
    reads, when the caller has it already (the dashboard's `billing.running` rollup, grouped
    by payer: for a report by organization, cost center, project or user, unfiltered)."""
    if group_by not in GROUPS:
        raise ValidationError({"group_by": [f"Choose one of: {', '.join(GROUPS)}."]})
    now = now or timezone.now()
    filters = filters or {}
    column = GROUPS[group_by]
    paged = group_by in PAGED_GROUPS and not whole
    source = summary_filtered(
        user=user,
        period=period,
        filters=filters,
        showback=showback,
        by_resource=group_by == "resource",
    )
    sums = summary_sums(source)
    groups = source.values(column).annotate(**sums).order_by()
    count, page_number, size = 0, 1, None
    if paged:
        page_number, size = _page_bounds(page, page_size)
        count = source.values(column).distinct().order_by().count()
        offset = (page_number - 1) * size
        groups = groups.order_by(F("cost").desc(nulls_last=True), column)[offset : offset + size]
    grouped = {group_key(column, g[column]): g for g in groups}
    # Every group is read unless paged: the totals are theirs, without another pass.
    totals = (
        source.aggregate(cost=sums["cost"], unpriced=sums["unpriced"])
        if paged
        else {
            "cost": sum((g["cost"] or ZERO for g in grouped.values()), ZERO),
            "unpriced": sum(g["unpriced"] or 0 for g in grouped.values()),
        }
    )
    running_all = (
        running_filtered(user=user, period=period, filters=filters, now=now, showback=showback)
        if running is None
        else running
    )
    # By resource, a page's rows are its metered resources and (on the first page) those
    # created since the last metered hour, which only the accrual knows yet.
    fresh = {cost.resource_id for cost in running_all if cost.new} if paged else set()
    running_by_key: dict = {}
    for cost in running_all:
        key = getattr(cost, column)
        if not paged or key in grouped or (page_number == 1 and key in fresh):
            running_by_key.setdefault(key, []).append(cost)
    labels = _labels(group_by, list(grouped.keys() | running_by_key.keys()))
    rows = []
    for key in grouped.keys() | running_by_key.keys():
        metered = grouped.get(key, {})
        accrued, hourly = accrual.total(running_by_key.get(key, []))
        rows.append(
            ReportRow(
                key=str(key) if key is not None else "",
                label=str(labels.get(key, key if key is not None else "—")),
                cost=(metered.get("cost") or ZERO).quantize(CENT, ROUND_HALF_UP),
                quantity=metered.get("quantity") or ZERO,
                running_hours=metered.get("running") or ZERO,
                accrued=accrued.quantize(CENT, ROUND_HALF_UP),
                run_rate=(hourly * HOURS_PER_MONTH).quantize(CENT, ROUND_HALF_UP),
                unpriced=(metered.get("unpriced") or 0)
                + sum(int(cost.unpriced) for cost in running_by_key.get(key, [])),
            )
        )
    whatif_total = None
    if whatif is not None:
        on = (period.end - timedelta(seconds=1)).date()
        keyed = source.filter(**{f"{column}__in": list(grouped)}) if paged else source
        repriced = whatif_costs(rows=keyed, column=column, card=whatif, on=on)
        for row in rows:
            row.whatif_cost = repriced.get(group_key(column, _typed(column, row.key)), ZERO)
        whatif_total = whatif_costs(rows=source, column=None, card=whatif, on=on).get(None, ZERO)
    rows.sort(key=lambda row: (-row.cost_with_accrued, row.label))
    accrued_total, hourly_total = accrual.total(running_all)
    return ChargebackReport(
        period=period,
        group_by=group_by,
        currency=user_currency(user=user),
        total=(totals["cost"] or ZERO).quantize(CENT, ROUND_HALF_UP),
        rows=rows,
        accrued=accrued_total.quantize(CENT, ROUND_HALF_UP),
        run_rate=(hourly_total * HOURS_PER_MONTH).quantize(CENT, ROUND_HALF_UP),
        includes_now=period_includes_now(period, now),
        showback=showback,
        running=running_all,
        whatif_card=whatif,
        whatif_total=whatif_total,
        unpriced=(totals["unpriced"] or 0) + sum(int(cost.unpriced) for cost in running_all),
        count=count + len(fresh) if paged else len(rows),
        page=page_number,
        page_size=size,
    )


def _typed(column: str, key: str) -> object:
    """A row's key (a string, as the API shows it) back as the grouped column's value."""
    if not key:
        return None
    return int(key) if column.endswith("_id") else key


def resource_hours(*, user: AbstractUser, resource_id: int, period: Period) -> QuerySet:
    """One resource's usage rows (hours) of the period, if the user may read them: read
    through the (resource, hour) key, whatever the size of the table."""
    return usage_visible(user=user).filter(
        resource_id=resource_id, hour__gte=period.start, hour__lt=period.end
    )


def resource_cost_detail(
    *, user: AbstractUser, resource_id: int, period: Period, now: datetime | None = None
) -> dict | None:
    """Why a resource cost what it did: its lifecycle events, its usage rows in the period,
    what it accrued since the last metered hour, and its card's rates for its kind (every
    version, the ones that apply today marked)."""
    now = now or timezone.now()
    resource = (
        resources_visible(user=user)
        .select_related("project", "cloud_account", "parent")
        .filter(pk=resource_id)
        .first()
    )
    if resource is None:
        return None
    rows = resource_hours(user=user, resource_id=resource_id, period=period)
    running = (
        accrual.running_costs(
            resources=Resource.objects.filter(pk=resource_id),
            start=period.start,
            end=period.end,
            now=now,
        )
        if period_includes_now(period, now)
        else []
    )
    kind = billed_kind(
        kind=resource.kind, parent_kind=resource.parent.kind if resource.parent else None
    )
    size = running[0].size if running else str(resource.properties.get("size", ""))
    book = PriceBook([resource.cloud_account_id], accounts=[resource.cloud_account])
    applied = {
        rate.pk
        for rate in book.applied_rates(
            cloud_account_id=resource.cloud_account_id, kind=kind, size=size, on=now.date()
        )
    }
    metered = (rows.aggregate(total=Sum("cost"))["total"] or ZERO).quantize(CENT)
    accrued = sum((cost.accrued for cost in running), ZERO).quantize(CENT, ROUND_HALF_UP)
    return {
        "resource": resource,
        "events": ResourceEvent.objects.filter(resource_id=resource_id).order_by("at", "id"),
        "usage": rows.order_by("hour"),
        "total": metered,
        "accrued": accrued,
        "total_with_accrued": metered + accrued,
        "running": running[0] if running else None,
        "billed_kind": kind,
        "rates": [
            {"rate": rate, "applies": rate.pk in applied}
            for rate in book.card_rates_for(cloud_account_id=resource.cloud_account_id, kind=kind)
            if rate.size in (size, "")
        ],
    }
