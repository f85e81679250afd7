"""Savings: what leases and idle reclaim stopped costing, grouped for a report."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth.models import AbstractUser
from django.db.models import Count, DateTimeField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from billing.selectors.access import user_currency
from billing.selectors.periods import Period
from core.models import Project
from core.selectors import project_ids
from lifecycle.models import Saving

CENT = Decimal("0.01")


SAVINGS_GROUPS = {"project": "project", "cost_center": "cost_center", "source": "source"}


@dataclass
class SavingsRow:
    key: str
    label: str
    amount: Decimal
    # What is being saved per hour right now (savings still running).
    hourly_now: Decimal


@dataclass
class SavingsReport:
    period: Period
    group_by: str
    currency: str
    total: Decimal
    rows: list[SavingsRow] = field(default_factory=list)


def savings_visible(*, user: AbstractUser) -> QuerySet[Saving]:
    """As billing's usage: cost readers and managers of the project, and the order's requester."""
    if not user.is_authenticated:
        return Saving.objects.none()
    return Saving.objects.filter(
        Q(project__in=project_ids(user=user, perm="view_project_costs"))
        | Q(project__in=project_ids(user=user, perm="approve_for_project"))
        | Q(resource__order__requester=user)
    )


def savings(
    *, user: AbstractUser, period: Period, group_by: str = "project", now: datetime | None = None
) -> SavingsReport:
    """What stopped accruing in the period, grouped: each saving's hourly amount times the
    hours of the period it ran for (never beyond `now`). Summed in the database per group and
    hourly amount, so the Python side multiplies a handful of rows."""
    if group_by not in SAVINGS_GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(SAVINGS_GROUPS)}")
    now = now or timezone.now()
    end = min(period.end, now)
    column = SAVINGS_GROUPS[group_by]
    cap = Value(end, output_field=DateTimeField())
    start = Value(period.start, output_field=DateTimeField())
    rows = (
        savings_visible(user=user)
        .filter(started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=period.start))
        .values(column, "hourly")
        .annotate(
            duration=Sum(Least(Coalesce("ended_at", cap), cap) - Greatest("started_at", start)),
            running=Count("pk", filter=Q(ended_at__isnull=True)),
        )
        .order_by()
    )
    amounts: dict[str, Decimal] = {}
    hourly_now: dict[str, Decimal] = {}
    for row in rows:
        key = str(row[column])
        hours = Decimal(row["duration"].total_seconds()) / 3600
        amounts[key] = amounts.get(key, Decimal(0)) + row["hourly"] * hours
        hourly_now[key] = hourly_now.get(key, Decimal(0)) + row["hourly"] * row["running"]
    labels = (
        dict(Project.objects.filter(pk__in=amounts).values_list("pk", "name"))
        if group_by == "project"
        else {}
    )
    report_rows = sorted(
        (
            SavingsRow(
                key=key,
                label=str(labels.get(int(key), key) if group_by == "project" else key),
                amount=amount.quantize(CENT, ROUND_HALF_UP),
                hourly_now=hourly_now[key],
            )
            for key, amount in amounts.items()
        ),
        key=lambda row: (-row.amount, row.label),
    )
    return SavingsReport(
        period=period,
        group_by=group_by,
        currency=user_currency(user=user),
        total=sum(amounts.values(), Decimal(0)).quantize(CENT, ROUND_HALF_UP),
        rows=report_rows,
    )
