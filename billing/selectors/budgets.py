"""Budgets: what each spent this month (from the daily rollup), what runs now accrued on top,
where the month is heading, and the admission check against refusing budgets."""

import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import reduce

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from billing import accrual
from billing.accrual import RunningCost, RunningTotal
from billing.models import Budget, UsageDay
from billing.pricing import CENT, HOURS_PER_MONTH, ZERO
from billing.selectors.access import DEFAULT_CURRENCY, usage_in
from billing.selectors.periods import Period, month_period, month_start, period_includes_now
from core.models import Organization, OrganizationRole, Project
from core.selectors import project_ids
from provisioning.models import Resource


@dataclass
class BudgetStatus:
    """A budget's month so far and where it is heading.

    `spent` is metered, `accrued` the estimate since the last metered hour; `forecast` the
    month end at the run rate: spent + accrued + what runs now (`run_rate`, per hour) for the
    hours left + `trend`, the scope's recent growth carried on for the days left
    (`run_rate_trend`)."""

    budget: Budget
    month: date
    spent: Decimal
    forecast: Decimal
    currency: str
    accrued: Decimal = ZERO
    run_rate: Decimal = ZERO
    trend: Decimal = ZERO

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
    *,
    month: date,
    budgets: QuerySet[Budget] | None = None,
    now: datetime | None = None,
    running: list[RunningCost | RunningTotal] | None = None,
) -> list[BudgetStatus]:
    """Spent, accrued, trend and forecast of each budget for the month: two GROUP BY queries
    on the daily rollup for the month, two for the last two weeks by day, and the accrual (one
    query, one for the rates) for all budgets. `running`: the accrual of the month when the
    caller has it already (it must cover the budgets' scopes), so it is not read twice."""
    budgets = list(
        # The organization's billing profile for the currency (none: the default).
        (budgets if budgets is not None else Budget.objects.all()).select_related(
            "project", "organization__billing_profile"
        )
    )
    if not budgets:
        return []
    now = now or timezone.now()
    period = month_period(month)
    in_month = usage_in(period=period)
    # Only the usage of these budgets' projects and cost centers: admission asks for one project.
    projects = {budget.project_id for budget in budgets if budget.project_id}
    centers = {
        (budget.organization_id, budget.cost_center) for budget in budgets if not budget.project_id
    }
    spent_by_scope = {
        scope: cost for scope, _, cost in _costs_by_budget_scope(in_month, projects, centers)
    }
    # The two weeks before today, by day: the growth of the run rate (`run_rate_trend`).
    today = now.date()
    recent: dict[tuple, dict[date, Decimal]] = {}
    for scope, (day,), cost in _costs_by_budget_scope(
        UsageDay.objects.filter(day__gte=today - 2 * TREND_WINDOW, day__lt=today),
        projects,
        centers,
        "day",
    ):
        recent.setdefault(scope, {})[day] = cost
    running_by_scope = _running_by_budget_scope(projects, centers, period, now, running)
    hours_left = _hours_left(period, now)
    statuses = []
    for budget in budgets:
        scope = (
            ("project", budget.project_id)
            if budget.project_id
            else ("center", (budget.organization_id, budget.cost_center))
        )
        spent = spent_by_scope.get(scope) or ZERO
        accrued, hourly = running_by_scope.get(scope, (ZERO, ZERO))
        run_rate_part = hourly * hours_left
        trend = run_rate_trend(
            daily_costs=recent.get(scope, {}),
            today=today,
            hours_left=hours_left,
            cap=run_rate_part,
        )
        # The run rate carried to the month's end, after what is metered and accrued.
        forecast = spent + accrued + run_rate_part + trend
        statuses.append(
            BudgetStatus(
                budget=budget,
                month=month_start(month),
                spent=spent.quantize(CENT, ROUND_HALF_UP),
                accrued=accrued.quantize(CENT, ROUND_HALF_UP),
                run_rate=hourly,
                forecast=forecast.quantize(CENT, ROUND_HALF_UP),
                trend=trend.quantize(CENT, ROUND_HALF_UP),
                currency=_currency(budget.organization),
            )
        )
    return statuses


def _currency(organization: Organization) -> str:
    """The organization's currency: its billing profile's (selected with the budget), else the
    default. (A missing profile raises RelatedObjectDoesNotExist, an AttributeError.)"""
    profile = getattr(organization, "billing_profile", None)
    return profile.currency if profile else DEFAULT_CURRENCY


def _costs_by_budget_scope(
    rows: QuerySet[UsageDay], projects: set[int], centers: set[tuple[int, str]], *group: str
) -> Iterator[tuple[tuple, tuple, Decimal]]:
    """(scope, values of `group`, cost) of `rows` by budget scope, ("project", id) and
    ("center", (org, center)), and by the `group` columns: one GROUP BY per kind of scope."""
    if projects:
        for project, *values, cost in (
            rows.filter(project_id__in=projects)
            .values("project_id", *group)
            .annotate(cost=Sum("cost"))
            .values_list("project_id", *group, "cost")
        ):
            yield ("project", project), tuple(values), cost
    if centers:
        for org, center, *values, cost in (
            rows.filter(
                reduce(
                    operator.or_,
                    (Q(organization_id=org, cost_center=center) for org, center in centers),
                )
            )
            .values("organization_id", "cost_center", *group)
            .annotate(cost=Sum("cost"))
            .values_list("organization_id", "cost_center", *group, "cost")
        ):
            yield ("center", (org, center)), tuple(values), cost


# The trend compares the last TREND_WINDOW complete days with the TREND_WINDOW before.
TREND_WINDOW = timedelta(days=7)


def run_rate_trend(
    *, daily_costs: dict[date, Decimal], today: date, hours_left: Decimal, cap: Decimal
) -> Decimal:
    """What the month's end adds if the scope keeps growing as it did over the last two weeks.

    growth = (cost of the last 7 complete days - cost of the 7 before) / 49: the change of the
    daily cost per day (the windows' middles are 7 days apart); trend = growth * days_left^2 / 2,
    the extra cost of a daily cost growing by `growth` each day from now to the month's end.

    Only when every one of the 14 days was billed (a scope that started or paused within them
    has no trend to speak of: its first week would read as growth). Only growth counts: a cut
    (a server stopped or deleted) already shows in what runs now, and a falling slope on top
    would count it twice (the demo stops servers in its last weeks, and its forecast must follow
    what runs). And never more than `cap`, what runs now adds for the hours left: the trend is
    a guess from two weeks, what runs now a fact, and the guess never outweighs the fact."""
    window = TREND_WINDOW.days
    days = [today - timedelta(days=n) for n in range(1, 2 * window + 1)]
    if hours_left <= 0 or any(day not in daily_costs for day in days):
        return ZERO
    last = sum(daily_costs[day] for day in days[:window])
    before = sum(daily_costs[day] for day in days[window:])
    growth = (last - before) / (window * window)
    if growth <= 0:
        return ZERO
    days_left = hours_left / 24
    return min(growth * days_left * days_left / 2, cap)


def _running_by_budget_scope(
    projects: set[int],
    centers: set[tuple[int, str]],
    period: Period,
    now: datetime,
    running: list[RunningCost | RunningTotal] | None,
) -> dict[tuple, tuple[Decimal, Decimal]]:
    """(accrued, per hour) of what runs now, by ("project", id) and ("center", (org, center))."""
    if not period_includes_now(period, now) or not (projects or centers):
        return {}
    if running is not None:
        costs = running
    else:
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
    *,
    user: AbstractUser,
    month: date,
    now: datetime | None = None,
    running: list[RunningCost | RunningTotal] | None = None,
) -> list[BudgetStatus]:
    """The statuses of the budgets the user may read (`budget_visible`). `running`: the accrual
    of what the user sees, when the caller has it (`budget_statuses`)."""
    return budget_statuses(month=month, budgets=budget_visible(user=user), now=now, running=running)


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
