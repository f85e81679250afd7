"""What the portal's dashboard shows of costs: the month's spend to date by project and the
budgets the user reads, from the rollups: the usage's, and what runs now (`billing.running`),
read once for both."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.utils import timezone

from billing.running import running_rollup
from billing.selectors.budgets import BudgetStatus, budget_list
from billing.selectors.chargeback import ReportRow, chargeback_report
from billing.selectors.periods import month_period

TOP_PROJECTS = 10


@dataclass
class Spend:
    month: str
    currency: str
    # Metered plus what runs since the last metered hour, as on Costs.
    total: Decimal
    by_project: list[ReportRow] = field(default_factory=list)
    budgets: list[BudgetStatus] = field(default_factory=list)
    # When what runs now was counted (its accrual is carried on to now at its price per hour).
    running_at: datetime | None = None


def dashboard_spend(
    *, user: AbstractUser, now: datetime | None = None, top: int = TOP_PROJECTS
) -> Spend:
    """This month's visible spend (billing's chargeback rules), its `top` projects, and the
    budgets the user reads: a GROUP BY on the daily rollup, the rollup of what runs now, two
    budget sums."""
    now = now or timezone.now()
    running, running_at = running_rollup(user=user, now=now)
    report = chargeback_report(
        user=user, period=month_period(now.date()), group_by="project", now=now, running=running
    )
    return Spend(
        month=report.period.label,
        currency=report.currency,
        total=report.total_with_accrued,
        by_project=report.rows[:top],
        budgets=budget_list(user=user, month=now.date(), now=now, running=report.running),
        running_at=running_at,
    )
