"""Reads for billing. Who sees which costs is decided here, and only here:
finance (view_project_costs) sees its organization, managers their projects, members their own
usage. Aggregation happens in the database (GROUP BY), never in Python loops."""

import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import reduce

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from billing import accrual
from billing.accrual import RunningCost
from billing.models import BillingProfile, Budget, RateCard, Statement, Usage
from billing.pricing import CENT, HOURS_PER_MONTH, ZERO, PriceBook, billed_kind
from core.models import Organization, OrganizationRole, Project
from core.selectors import project_ids
from provisioning.models import Resource, ResourceEvent

DEFAULT_CURRENCY = "USD"

# group_by → the usage column it groups on; labels of id columns are read afterwards.
GROUPS: dict[str, str] = {
    "organization": "organization_id",
    "project": "project_id",
    "cost_center": "cost_center",
    "user": "user_id",
    "catalog_item": "catalog_item_id",
    "provider": "provider",
    "kind": "kind",
    "resource": "resource_id",
}
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


@dataclass(frozen=True)
class Period:
    """A half-open range of time [start, end) and how people call it ("2026-11")."""

    start: datetime
    end: datetime
    label: str

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_after(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_period(month: date) -> Period:
    month = month_start(month)
    return Period(_midnight(month), _midnight(month_after(month)), f"{month:%Y-%m}")


def period_parse(
    *, period: str | None = None, start: date | None = None, end: date | None = None
) -> Period:
    """A month ("2026-11") or an inclusive range of days; the current month when neither."""
    if start or end:
        if not (start and end):
            raise ValidationError({"end" if start else "start": ["Give both start and end."]})
        if end < start:
            raise ValidationError({"end": ["Must not be before start."]})
        if end >= date.max:
            raise ValidationError({"end": ["Must be before the year 9999 ends."]})
        return Period(_midnight(start), _midnight(end + timedelta(days=1)), f"{start}..{end}")
    if not period:
        return month_period(timezone.now().date())
    try:
        month = datetime.strptime(period, "%Y-%m").date()
    except ValueError:
        raise ValidationError({"period": ["Use a month as YYYY-MM, e.g. 2026-11."]}) from None
    return month_period(month)


def organization_currency(*, organization_id: int | None) -> str:
    profile = BillingProfile.objects.filter(organization_id=organization_id).first()
    return profile.currency if profile else DEFAULT_CURRENCY


# --- Chargeback -------------------------------------------------------------------------------


def _cost_readers(*, user: AbstractUser, requester: str, showback: bool = False) -> Q:
    """Whose costs the user may read: finance its organization's projects (the permission is
    granted on every project), managers their projects, everyone their own orders' (the
    `requester` field); with `showback`, also every project the user is a member of."""
    readable = (
        Q(project__in=project_ids(user=user, perm="view_project_costs"))
        | Q(project__in=project_ids(user=user, perm="approve_for_project"))
        | Q(**{requester: user})
    )
    if showback:
        readable |= Q(project__in=project_ids(user=user, perm="view_project"))
    return readable


def usage_visible(*, user: AbstractUser, showback: bool = False) -> QuerySet[Usage]:
    """Usage rows the user may see (`_cost_readers`)."""
    if not user.is_authenticated:
        return Usage.objects.none()
    return Usage.objects.filter(_cost_readers(user=user, requester="user", showback=showback))


def resources_visible(*, user: AbstractUser, showback: bool = False) -> QuerySet[Resource]:
    """Resources whose costs the user may see: the same people as their usage rows."""
    if not user.is_authenticated:
        return Resource.objects.none()
    return Resource.objects.filter(
        _cost_readers(user=user, requester="order__requester", showback=showback)
    )


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
    running: list[RunningCost] = field(default_factory=list)
    # The metered usage re-priced under a draft card (what-if), when one was asked for.
    whatif_card: RateCard | None = None
    whatif_total: Decimal | None = None

    @property
    def drill_down(self) -> str | None:
        return DRILL_DOWN.get(self.group_by)

    @property
    def total_with_accrued(self) -> Decimal:
        return self.total + self.accrued

    @property
    def unpriced(self) -> int:
        return sum(row.unpriced for row in self.rows)


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


def usage_filtered(
    *, user: AbstractUser, period: Period, filters: dict, showback: bool = False
) -> QuerySet[Usage]:
    """The user's visible usage in the period, narrowed by drill-down filters (group → key)."""
    rows = usage_visible(user=user, showback=showback).filter(
        hour__gte=period.start, hour__lt=period.end
    )
    for group, value in filters.items():
        if value not in (None, ""):
            rows = rows.filter(**{GROUPS[group]: value})
    return rows


def usage_in(*, period: Period) -> QuerySet[Usage]:
    """Every usage row of the period, unscoped: for budgets, whose readers `budget_list` chose."""
    return Usage.objects.filter(hour__gte=period.start, hour__lt=period.end)


def period_includes_now(period: Period, now: datetime) -> bool:
    return period.start <= now < period.end


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


def chargeback_report(
    *,
    user: AbstractUser,
    period: Period,
    group_by: str,
    filters: dict | None = None,
    showback: bool = False,
    now: datetime | None = None,
    whatif: RateCard | None = None,
) -> ChargebackReport:
    """Costs of the period grouped by one dimension: one GROUP BY query, one for labels, and
    for the current period the accrual of what runs now (one query, and one for the rates).
    `showback`: the same figures for every member of a project, who is shown costs without
    being charged. `whatif`: a draft card to re-price the metered usage with (one query)."""
    if group_by not in GROUPS:
        raise ValidationError({"group_by": [f"Choose one of: {', '.join(GROUPS)}."]})
    now = now or timezone.now()
    filters = filters or {}
    column = GROUPS[group_by]
    usage = usage_filtered(user=user, period=period, filters=filters, showback=showback)
    grouped = {
        g[column]: g
        for g in usage.values(column)
        .annotate(cost=Sum("cost"), quantity=Sum("hours"), running=Sum("running_hours"))
        .order_by()
    }
    # Apart from the sums: a partial index holds the few unpriced rows, the sums stay plain.
    unpriced = dict(
        usage.filter(unpriced=True)
        .values(column)
        .annotate(count=Count("pk"))
        .values_list(column, "count")
        .order_by()
    )
    running: dict = {}
    for cost in running_filtered(
        user=user, period=period, filters=filters, now=now, showback=showback
    ):
        running.setdefault(getattr(cost, column), []).append(cost)
    labels = _labels(group_by, list(grouped.keys() | running.keys()))
    rows = []
    for key in grouped.keys() | running.keys():
        metered = grouped.get(key, {})
        accrued, hourly = accrual.total(running.get(key, []))
        rows.append(
            ReportRow(
                key=str(key) if key is not None else "",
                label=str(labels.get(key, key if key is not None else "—")),
                cost=metered.get("cost", ZERO).quantize(CENT, ROUND_HALF_UP),
                quantity=metered.get("quantity", ZERO),
                running_hours=metered.get("running", ZERO),
                accrued=accrued.quantize(CENT, ROUND_HALF_UP),
                run_rate=(hourly * HOURS_PER_MONTH).quantize(CENT, ROUND_HALF_UP),
                unpriced=unpriced.get(key, 0)
                + sum(1 for cost in running.get(key, []) if cost.unpriced),
            )
        )
    whatif_total = None
    if whatif is not None:
        repriced = whatif_costs(
            user=user,
            period=period,
            group_by=group_by,
            filters=filters,
            card=whatif,
            showback=showback,
        )
        for row in rows:
            row.whatif_cost = repriced.get(row.key, ZERO)
        whatif_total = sum(repriced.values(), ZERO)
    rows.sort(key=lambda row: (-row.cost_with_accrued, row.label))
    total = sum((g["cost"] for g in grouped.values()), ZERO).quantize(CENT, ROUND_HALF_UP)
    all_running = [cost for costs in running.values() for cost in costs]
    accrued_total, hourly_total = accrual.total(all_running)
    return ChargebackReport(
        period=period,
        group_by=group_by,
        currency=user_currency(user=user),
        total=total,
        rows=rows,
        accrued=accrued_total.quantize(CENT, ROUND_HALF_UP),
        run_rate=(hourly_total * HOURS_PER_MONTH).quantize(CENT, ROUND_HALF_UP),
        includes_now=period_includes_now(period, now),
        showback=showback,
        running=all_running,
        whatif_card=whatif,
        whatif_total=whatif_total,
    )


# --- What-if: a month re-priced under a draft card, nothing written ---------------------------


def draft_cards(*, user: AbstractUser) -> QuerySet[RateCard]:
    """Draft cards the user may re-price reports with: finance's organizations' and the
    installation's (no organization)."""
    if not user.is_authenticated:
        return RateCard.objects.none()
    finance_orgs = Project.objects.filter(
        pk__in=project_ids(user=user, perm="view_project_costs")
    ).values("organization_id")
    return RateCard.objects.filter(is_draft=True).filter(
        Q(organization__in=finance_orgs) | Q(organization__isnull=True, cloud_account__isnull=True)
    )


def draft_card_get(*, user: AbstractUser, card_id: int) -> RateCard:
    card = draft_cards(user=user).filter(pk=card_id).first()
    if card is None:
        raise ValidationError({"whatif": ["Choose a draft rate card you may read."]})
    return card


def whatif_costs(
    *,
    user: AbstractUser,
    period: Period,
    group_by: str,
    filters: dict,
    card: RateCard,
    showback: bool = False,
) -> dict[str, Decimal]:
    """What each group's metered usage would have cost under a draft card (group key → cost):
    the usage summed per kind, size and quantity in one query and priced in memory with the
    draft's rates, for every account. A kind the draft does not price keeps its metered cost."""
    column = GROUPS[group_by]
    usage = (
        usage_filtered(user=user, period=period, filters=filters, showback=showback)
        .values(column, "cloud_account_id", "kind", "size", "quantity")
        .annotate(
            running=Sum("running_hours"),
            hours=Sum("hours"),
            created=Count("pk", filter=Q(one_time__gt=0)),
            cost=Sum("cost"),
        )
        .order_by()
    )
    book = PriceBook([], rates=list(card.rates.select_related("rate_card")))
    on = (period.end - timedelta(seconds=1)).date()
    costs: dict[str, Decimal] = {}
    for row in usage:
        price = book.hourly(
            cloud_account_id=row["cloud_account_id"],
            kind=row["kind"],
            size=row["size"],
            quantity=row["quantity"],
            on=on,
        )
        cost = (
            row["running"] * price.running
            + (row["hours"] - row["running"]) * price.idle
            + row["created"] * price.one_time
            if price.priced
            else row["cost"]
        )
        key = str(row[column]) if row[column] is not None else ""
        costs[key] = costs.get(key, ZERO) + cost
    return {key: cost.quantize(CENT, ROUND_HALF_UP) for key, cost in costs.items()}


def user_currency(*, user: AbstractUser) -> str:
    """The currency of the user's (first) organization: one organization, one currency."""
    project = (
        Project.objects.filter(pk__in=project_ids(user=user, perm="view_project"))
        .order_by("organization_id")
        .first()
    )
    return organization_currency(organization_id=project.organization_id if project else None)


# The CSV's columns: (usage field, the header people read).
EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("hour", "Hour (UTC)"),
    ("resource_id", "Resource id"),
    ("resource__name", "Resource"),
    ("kind", "Kind"),
    ("size", "Size"),
    ("quantity", "Quantity"),
    ("unit", "Unit"),
    ("hours", "Hours"),
    ("running_hours", "Running hours"),
    ("rate", "Rate per running hour"),
    ("idle_rate", "Rate per stopped hour"),
    ("one_time", "One-time fee"),
    ("cost", "Cost"),
    ("organization__name", "Organization"),
    ("project__name", "Project"),
    ("cost_center", "Cost center"),
    ("user__username", "User"),
    ("catalog_item__name", "Catalog item"),
    ("provider", "Provider"),
    ("unpriced", "Unpriced (no rate)"),
]
EXPORT_HEADER = [header for _, header in EXPORT_COLUMNS]


def usage_export(
    *, user: AbstractUser, period: Period, filters: dict, showback: bool = False
) -> Iterator[tuple]:
    """Every visible usage row of the period, streamed from a server-side cursor; `unpriced`
    reads "yes" or is empty."""
    rows = (
        usage_filtered(user=user, period=period, filters=filters, showback=showback)
        .order_by("hour", "resource_id")
        .values_list(*(name for name, _ in EXPORT_COLUMNS))
        .iterator(chunk_size=5000)
    )
    return ((*row[:-1], "yes" if row[-1] else "") for row in rows)


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
    rows = usage_visible(user=user).filter(
        resource_id=resource_id, hour__gte=period.start, hour__lt=period.end
    )
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


# --- Budgets ----------------------------------------------------------------------------------


@dataclass
class BudgetStatus:
    """A budget's month so far and where it is heading.

    `spent` is metered, `accrued` the estimate since the last metered hour; `forecast` the
    month end at the run rate: spent + accrued + what runs now (`run_rate`, per hour) for the
    hours left."""

    budget: Budget
    month: date
    spent: Decimal
    forecast: Decimal
    currency: str
    accrued: Decimal = ZERO
    run_rate: Decimal = ZERO

    @property
    def spent_with_accrued(self) -> Decimal:
        return self.spent + self.accrued

    @property
    def monthly_run_rate(self) -> Decimal:
        return (self.run_rate * HOURS_PER_MONTH).quantize(CENT, ROUND_HALF_UP)

    def _share(self, amount: Decimal) -> int:
        if not self.budget.monthly_amount:
            return 0
        return int(amount * 100 / self.budget.monthly_amount)

    @property
    def percent(self) -> int:
        return self._share(self.spent_with_accrued)

    @property
    def bar_percent(self) -> int:
        return min(self.percent, 100)

    @property
    def forecast_percent(self) -> int:
        return self._share(self.forecast)


def _month_elapsed_hours(month: date, now: datetime) -> tuple[Decimal, Decimal]:
    """Hours of the month gone by (metered ones: up to the last full hour) and hours in total."""
    period = month_period(month)
    elapsed = min(max(now, period.start), period.end) - period.start
    return Decimal(int(elapsed.total_seconds() // 3600)), Decimal(period.hours)


def _hours_left(period: Period, now: datetime) -> Decimal:
    left = period.end - min(max(now, period.start), period.end)
    return Decimal(left.total_seconds()) / Decimal(3600)


def budget_statuses(
    *, month: date, budgets: QuerySet[Budget] | None = None, now: datetime | None = None
) -> list[BudgetStatus]:
    """Spent, accrued and forecast of each budget for the month: two GROUP BY queries and the
    accrual (one query, one for the rates) for all budgets."""
    budgets = list(
        (budgets if budgets is not None else Budget.objects.all()).select_related(
            "project", "organization"
        )
    )
    if not budgets:
        return []
    now = now or timezone.now()
    period = month_period(month)
    in_month = Usage.objects.filter(hour__gte=period.start, hour__lt=period.end)
    # Only the usage of these budgets' projects and cost centers: admission asks for one project.
    projects = {budget.project_id for budget in budgets if budget.project_id}
    centers = {
        (budget.organization_id, budget.cost_center) for budget in budgets if not budget.project_id
    }
    by_project = (
        dict(
            in_month.filter(project_id__in=projects)
            .values("project_id")
            .annotate(cost=Sum("cost"))
            .values_list("project_id", "cost")
        )
        if projects
        else {}
    )
    by_center = (
        {
            (org, center): cost
            for org, center, cost in in_month.filter(
                reduce(
                    operator.or_,
                    (Q(organization_id=org, cost_center=center) for org, center in centers),
                )
            )
            .values("organization_id", "cost_center")
            .annotate(cost=Sum("cost"))
            .values_list("organization_id", "cost_center", "cost")
        }
        if centers
        else {}
    )
    running = _running_by_budget_scope(projects, centers, period, now)
    hours_left = _hours_left(period, now)
    currencies = dict(
        BillingProfile.objects.filter(
            organization_id__in={budget.organization_id for budget in budgets}
        ).values_list("organization_id", "currency")
    )
    statuses = []
    for budget in budgets:
        if budget.project_id:
            spent = by_project.get(budget.project_id) or ZERO
            accrued, hourly = running.get(("project", budget.project_id), (ZERO, ZERO))
        else:
            scope = (budget.organization_id, budget.cost_center)
            spent = by_center.get(scope) or ZERO
            accrued, hourly = running.get(("center", scope), (ZERO, ZERO))
        # The run rate carried to the month's end, after what is metered and accrued.
        forecast = spent + accrued + hourly * hours_left
        statuses.append(
            BudgetStatus(
                budget=budget,
                month=month_start(month),
                spent=spent.quantize(CENT, ROUND_HALF_UP),
                accrued=accrued.quantize(CENT, ROUND_HALF_UP),
                run_rate=hourly,
                forecast=forecast.quantize(CENT, ROUND_HALF_UP),
                currency=currencies.get(budget.organization_id, DEFAULT_CURRENCY),
            )
        )
    return statuses


def _running_by_budget_scope(
    projects: set[int], centers: set[tuple[int, str]], period: Period, now: datetime
) -> dict[tuple, tuple[Decimal, Decimal]]:
    """(accrued, per hour) of what runs now, by ("project", id) and ("center", (org, center))."""
    if not period_includes_now(period, now) or not (projects or centers):
        return {}
    scope = Q(project_id__in=projects) | reduce(
        operator.or_,
        (Q(project__organization_id=org, project__cost_center=c) for org, c in centers),
        Q(pk__in=[]),
    )
    costs = accrual.running_costs(
        resources=Resource.objects.filter(scope), start=period.start, end=period.end, now=now
    )
    grouped: dict[tuple, list[RunningCost]] = {}
    for cost in costs:
        grouped.setdefault(("project", cost.project_id), []).append(cost)
        grouped.setdefault(("center", (cost.organization_id, cost.cost_center)), []).append(cost)
    return {key: accrual.total(group) for key, group in grouped.items()}


def budget_list(
    *, user: AbstractUser, month: date, now: datetime | None = None
) -> list[BudgetStatus]:
    """The statuses of the budgets the user may read (`budget_visible`)."""
    return budget_statuses(month=month, budgets=budget_visible(user=user), now=now)


# Budgets as they are listed: by organization, cost centers first (a project's has none).
BUDGET_ORDER = ("organization_id", "cost_center", "project__name", "pk")


def budget_visible(*, user: AbstractUser) -> QuerySet[Budget]:
    """Budgets the user may read: of the projects they belong to (members see what their
    orders are checked against), and of cost centers when they are finance or admins of the
    organization."""
    if not user.is_authenticated:
        return Budget.objects.none()
    cost_projects = project_ids(user=user, perm="view_project_costs")
    finance_orgs = Project.objects.filter(pk__in=cost_projects).values("organization_id")
    return Budget.objects.filter(
        Q(project__in=project_ids(user=user, perm="view_project"))
        | Q(project__isnull=True, organization__in=finance_orgs)
    ).order_by(*BUDGET_ORDER)


def budget_clash(*, budget: Budget) -> dict[str, list[str]]:
    """Why this (unsaved) budget may not be kept: its project or cost center already has one
    (one budget per project and per cost center); empty when it may."""
    others = Budget.objects.exclude(pk=budget.pk)
    if budget.project_id and others.filter(project_id=budget.project_id).exists():
        return {"project": [f"{budget.project} has a budget already: change that one."]}
    if (
        not budget.project_id
        and budget.cost_center
        and others.filter(
            organization_id=budget.organization_id, cost_center=budget.cost_center
        ).exists()
    ):
        return {
            "cost_center": [
                f"Cost center {budget.cost_center} has a budget already: change that one."
            ]
        }
    return {}


def budget_organizations(*, user: AbstractUser) -> QuerySet[Organization]:
    """Organizations whose budgets the user sets: finance and admins (staff: all)."""
    if user.is_staff:
        return Organization.objects.all()
    return Organization.objects.filter(
        memberships__user=user,
        memberships__role__in=[OrganizationRole.FINANCE, OrganizationRole.ADMIN],
    ).distinct()


def budget_editable(*, user: AbstractUser) -> QuerySet[Budget]:
    """The budgets the user may change (see `budget_organizations`)."""
    return Budget.objects.filter(organization__in=budget_organizations(user=user)).select_related(
        "project", "organization"
    )


def budget_check(
    *, project: Project, monthly_cost: Decimal, refusing_only: bool = True
) -> str | None:
    """For admission: why a new order costing `monthly_cost` a month must be refused, or None.

    Refuses only under a budget marked `refuse_orders_over_budget` (the project's or its cost
    center's) when the month's spend so far plus the order's cost for the rest of the month
    exceeds it. With `refusing_only` false, any such budget answers (the order form warns).
    """
    now = timezone.now()
    budgets = Budget.objects.filter(
        **({"refuse_orders_over_budget": True} if refusing_only else {})
    ).filter(
        Q(project=project)
        | Q(organization_id=project.organization_id, cost_center=project.cost_center)
    )
    elapsed, total_hours = _month_elapsed_hours(now.date(), now)
    rest_of_month = monthly_cost * (total_hours - elapsed) / HOURS_PER_MONTH
    for status in budget_statuses(month=now.date(), budgets=budgets, now=now):
        expected = (status.spent + rest_of_month).quantize(CENT, ROUND_HALF_UP)
        if expected > status.budget.monthly_amount:
            return (
                f"This order would take {status.budget.label} to {expected} {status.currency} "
                f"this month, over its budget of {status.budget.monthly_amount} "
                f"{status.currency}."
            )
    return None


# --- Statements -------------------------------------------------------------------------------


def statement_list(*, user: AbstractUser) -> QuerySet[Statement]:
    """Statements of the cost centers of projects whose costs the user may read (finance)."""
    if not user.is_authenticated:
        return Statement.objects.none()
    readable = Project.objects.filter(
        pk__in=project_ids(user=user, perm="view_project_costs"),
        organization_id=OuterRef("organization_id"),
        cost_center=OuterRef("cost_center"),
    )
    return Statement.objects.filter(Exists(readable)).select_related("organization")


def statement_get(*, user: AbstractUser, statement_id: int) -> Statement | None:
    return (
        statement_list(user=user).prefetch_related("lines__project").filter(pk=statement_id).first()
    )
