"""Budgets: what each spent this month (from the daily rollup), what runs now accrued on top,
where the month is heading, and the admission check against refusing budgets."""

import operator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import reduce

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from billing import accrual
from billing.accrual import RunningCost
from billing.models import BillingProfile, Budget
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
    *,
    month: date,
    budgets: QuerySet[Budget] | None = None,
    now: datetime | None = None,
    running: list[RunningCost] | None = None,
) -> list[BudgetStatus]:
    """Spent, accrued and forecast of each budget for the month: two GROUP BY queries on the
    daily rollup and the accrual (one query, one for the rates) for all budgets. `running`:
    the accrual of the month when the caller has it already (it must cover the budgets'
    scopes), so it is not read twice."""
    budgets = list(
        (budgets if budgets is not None else Budget.objects.all()).select_related(
            "project", "organization"
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
    running_by_scope = _running_by_budget_scope(projects, centers, period, now, running)
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
            accrued, hourly = running_by_scope.get(("project", budget.project_id), (ZERO, ZERO))
        else:
            scope = (budget.organization_id, budget.cost_center)
            spent = by_center.get(scope) or ZERO
            accrued, hourly = running_by_scope.get(("center", scope), (ZERO, ZERO))
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
    projects: set[int],
    centers: set[tuple[int, str]],
    period: Period,
    now: datetime,
    running: list[RunningCost] | None,
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
    running: list[RunningCost] | None = None,
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
