"""The lifecycle figures on the dashboard."""

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db.models import Count
from django.utils import timezone

from billing.selectors.periods import month_period
from core.selectors import head_and_count
from lifecycle.models import Grade, LeaseState
from lifecycle.selectors.leases import SOON, lease_list
from lifecycle.selectors.reclaim import reclaim_case_list
from lifecycle.selectors.savings import savings


def dashboard_summary(*, user: AbstractUser, now: datetime | None = None) -> dict:
    """The dashboard's lifecycle panel: leases expiring within 7 days, retired orders in their
    grace period, open reclaim cases by grade, and what policies saved this month."""
    now = now or timezone.now()
    leases = lease_list(user=user)
    expiring = leases.filter(state=LeaseState.ACTIVE, expires_at__lte=now + SOON).order_by(
        "expires_at"
    )
    retired = leases.filter(state=LeaseState.RETIRED).order_by("delete_at")
    by_grade = dict(
        reclaim_case_list(user=user)
        .filter(closed_at__isnull=True)
        .values_list("grade")
        .annotate(n=Count("pk"))
        .order_by()
    )
    month = savings(user=user, period=month_period(now.date()), now=now)
    expiring_head, expiring_count = head_and_count(expiring, 10)
    retired_head, retired_count = head_and_count(retired, 10)
    return {
        "expiring": expiring_head,
        "expiring_count": expiring_count,
        "retired": retired_head,
        "retired_count": retired_count,
        "cases_by_grade": [
            (grade, by_grade.get(grade, 0)) for grade in Grade.values if grade != Grade.DELETED
        ],
        "open_cases": sum(by_grade.values()),
        "savings_month": month.total,
        "savings_hourly_now": sum((row.hourly_now for row in month.rows), Decimal(0)),
        "currency": month.currency,
    }
