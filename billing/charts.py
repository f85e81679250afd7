"""The data of the cost charts (drawn by Chart.js from static files): cost over time stacked by
project, month over month by cost center, and a budget's burn-down with its forecast line.

Reads only, scoped like the reports (through `billing.selectors`); each chart is one GROUP BY
query on the daily usage rollup plus, for the current period, the accrual the report already
computed. Labels are what
people read: project names, "Cost center CC-100", dates.
"""

from bisect import bisect_right
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth.models import AbstractUser
from django.db.models import DateField, Q, QuerySet, Sum
from django.db.models.functions import Trunc, TruncMonth

from billing.accrual import RunningCost
from billing.pricing import CENT, ZERO
from billing.selectors.access import summary_filtered, usage_filtered, usage_in
from billing.selectors.budgets import BudgetStatus
from billing.selectors.chargeback import project_names
from billing.selectors.periods import Period, month_period, month_start

# Longer periods are drawn per week, so a year stays readable (53 bars, not 365).
DAILY_UP_TO_DAYS = 92
MONTHS_COMPARED = 12
ESTIMATED = "Accrued since the last metered hour (estimated)"


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, ROUND_HALF_UP))


def _as_date(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _steps(start: date, end: date, step: timedelta) -> list[date]:
    days, day = [], start
    while day < end:
        days.append(day)
        day += step
    return days


def _daily(
    user: AbstractUser, period: Period, filters: dict, showback: bool
) -> tuple[QuerySet, str]:
    """The rows a chart sums and their time column: the daily rollup, or narrowed to one
    resource its hours (the rollup per resource is monthly)."""
    if filters.get("resource") not in (None, ""):
        return usage_filtered(user=user, period=period, filters=filters, showback=showback), "hour"
    return summary_filtered(user=user, period=period, filters=filters, showback=showback), "day"


def cost_over_time(
    *,
    user: AbstractUser,
    period: Period,
    filters: dict,
    running: list[RunningCost],
    now: datetime,
    showback: bool = False,
) -> dict:
    """Cost per day (per week beyond three months) stacked by project; what `running` accrued
    since the last metered hour (estimated until metered) is its own dataset, on today."""
    weekly = (period.end - period.start).days > DAILY_UP_TO_DAYS
    first = period.start.date()
    if weekly:
        first -= timedelta(days=first.weekday())  # weeks start on Monday, as TruncWeek's do
    buckets = _steps(first, period.end.date(), timedelta(days=7 if weekly else 1))
    source, time = _daily(user, period, filters, showback)
    rows = (
        source.annotate(bucket=Trunc(time, "week" if weekly else "day", output_field=DateField()))
        .values("bucket", "project_id")
        .annotate(cost=Sum("cost"))
        .order_by()
    )
    by_project: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO] * len(buckets))
    for row in rows:
        by_project[row["project_id"]][bisect_right(buckets, _as_date(row["bucket"])) - 1] += row[
            "cost"
        ]
    names = project_names(set(by_project))
    datasets = [
        {"label": names.get(pk, str(pk)), "data": [_money(v) for v in data]}
        for pk, data in sorted(by_project.items(), key=lambda item: -sum(item[1]))
    ]
    accrued = sum((cost.accrued for cost in running), ZERO)
    if accrued and buckets:
        data = [0.0] * len(buckets)
        data[max(bisect_right(buckets, now.date()) - 1, 0)] = _money(accrued)
        datasets.append({"label": ESTIMATED, "data": data, "estimated": True})
    return {
        "title": f"Cost per {'week' if weekly else 'day'} by project",
        "axis": "Week" if weekly else "Day",
        "labels": [f"week of {day:%Y-%m-%d}" if weekly else f"{day:%Y-%m-%d}" for day in buckets],
        "datasets": datasets,
    }


def cost_by_month(
    *,
    user: AbstractUser,
    period: Period,
    filters: dict,
    running: list[RunningCost],
    now: datetime,
    showback: bool = False,
) -> dict:
    """Month over month by cost center: the twelve months up to the period's last month, the
    current one with its accrual (estimated until metered)."""
    last = month_start((period.end - timedelta(seconds=1)).date())
    months = [last]
    while len(months) < MONTHS_COMPARED:
        months.insert(0, month_start(months[0] - timedelta(days=1)))
    span = Period(month_period(months[0]).start, month_period(last).end, "months")
    source, time = _daily(user, span, filters, showback)
    rows = (
        source.annotate(month=TruncMonth(time))
        .values("month", "cost_center")
        .annotate(cost=Sum("cost"))
        .order_by()
    )
    index = {month: i for i, month in enumerate(months)}
    by_center: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(months))
    for row in rows:
        by_center[row["cost_center"]][index[_as_date(row["month"])]] += row["cost"]
    current = index.get(month_start(now.date()))
    for cost in running if current is not None else ():
        by_center[cost.cost_center][current] += cost.accrued
    # Drop the leading months without any cost: a young organization's chart starts with it.
    first = next(
        (i for i in range(len(months)) if any(data[i] for data in by_center.values())),
        len(months) - 1,
    )
    return {
        "title": "Month over month by cost center",
        "labels": [f"{month:%b %Y}" for month in months[first:]],
        "datasets": [
            {"label": f"Cost center {center}", "data": [_money(v) for v in data[first:]]}
            for center, data in sorted(by_center.items())
        ],
    }


def budget_burn_down(*, status: BudgetStatus, now: datetime) -> dict:
    """A budget's month: cumulative spend per day (metered, then today's accrual), the
    forecast line from now to the month's end at the run rate, and the budget as a line."""
    budget = status.budget
    period = month_period(status.month)
    days = _steps(period.start.date(), period.end.date(), timedelta(days=1))
    scope = (
        Q(project_id=budget.project_id)
        if budget.project_id
        else Q(organization_id=budget.organization_id, cost_center=budget.cost_center)
    )
    daily = dict(
        usage_in(period=period)
        .filter(scope)
        .values("day")
        .annotate(cost=Sum("cost"))
        .values_list("day", "cost")
        .order_by()
    )
    today = now.date()
    spent: list[float | None] = []
    total = ZERO
    for day in days:
        total += daily.get(day, ZERO)
        if day == today:
            total += status.accrued
        spent.append(_money(total) if day <= today else None)
    forecast: list[float | None] = [None] * len(days)
    if period.start.date() <= today < period.end.date():
        # From today's spend to the month-end forecast, at the run rate: a straight line.
        start, last = days.index(today), len(days) - 1
        rise = status.forecast - status.spent_with_accrued
        for i in range(start, len(days)):
            share = Decimal(i - start) / Decimal(max(last - start, 1))
            forecast[i] = _money(status.spent_with_accrued + rise * share)
    return {
        "title": f"Budget of {budget.label}",
        "labels": [f"{day:%Y-%m-%d}" for day in days],
        "currency": status.currency,
        "spent": spent,
        "forecast": forecast,
        "budget": _money(budget.monthly_amount),
    }
