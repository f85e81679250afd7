"""Statements: closing a month, one cost center at a time, from the daily usage rollup.

Usage rows are never written to: a statement's lines are what the rollup holds for the cost
center up to the month's end minus what earlier statements already billed, per project, kind
and usage month. Usage of a month already closed that was metered afterwards is such a
difference, and shows on the next statement as an adjustment."""

from datetime import date
from decimal import ROUND_HALF_UP

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import Statement, StatementLine, UsageDay
from billing.pricing import CENT, ZERO
from billing.selectors.access import organization_currency
from billing.selectors.periods import month_period, month_start


def statements_close(*, month: date) -> list[Statement]:
    """Close `month` for every cost center that has usage until its end: one immutable
    statement each, in its own short transaction. Closing again does nothing."""
    month = month_start(month)
    end = month_period(month).end
    if end > timezone.now():
        raise ValidationError({"month": ["A month can only be closed after it ended."]})
    centers = (
        UsageDay.objects.filter(day__lt=end.date())
        .values_list("organization_id", "cost_center")
        .distinct()
        .order_by("organization_id", "cost_center")
    )
    closed = set(
        Statement.objects.filter(month=month).values_list("organization_id", "cost_center")
    )
    statements = []
    for organization_id, cost_center in list(centers):
        if (organization_id, cost_center) in closed:
            continue  # closed before; usage metered since goes to the next month's statement
        statement = _statement_close(
            organization_id=organization_id, cost_center=cost_center, month=month
        )
        if statement is not None:
            statements.append(statement)
    return statements


def _statement_close(*, organization_id: int, cost_center: str, month: date) -> Statement | None:
    """One cost center's statement: the rollup's sums not yet on a statement, as its lines."""
    end = month_period(month).end
    try:
        with transaction.atomic():
            statement = Statement.objects.create(
                organization_id=organization_id,
                cost_center=cost_center,
                month=month,
                currency=organization_currency(organization_id=organization_id),
                total=ZERO,
            )
            metered = (
                UsageDay.objects.filter(
                    organization_id=organization_id, cost_center=cost_center, day__lt=end.date()
                )
                .annotate(usage_month=TruncMonth("day"))
                .values_list("project_id", "kind", "usage_month")
                .annotate(hours=Sum("hours"), cost=Sum("cost"))
                .order_by("usage_month", "project_id", "kind")
            )
            billed = {
                (project_id, kind, usage_month): (hours, cost)
                for project_id, kind, usage_month, hours, cost in StatementLine.objects.filter(
                    statement__organization_id=organization_id,
                    statement__cost_center=cost_center,
                )
                .values_list("project_id", "kind", "usage_month")
                .annotate(hours=Sum("hours"), cost=Sum("cost"))
                .order_by()
            }
            lines = []
            for project_id, kind, usage_month, hours, cost in metered:
                billed_hours, billed_cost = billed.get((project_id, kind, usage_month), (0, 0))
                # New usage always adds hours; its cost is what makes the month's lines add up
                # to the metered cost rounded once, so cents never drift over adjustments.
                if hours <= billed_hours:
                    continue
                lines.append(
                    StatementLine(
                        statement=statement,
                        project_id=project_id,
                        kind=kind,
                        usage_month=usage_month,
                        hours=hours - billed_hours,
                        cost=cost.quantize(CENT, ROUND_HALF_UP) - billed_cost,
                    )
                )
            StatementLine.objects.bulk_create(lines)
            statement.total = sum((line.cost for line in lines), ZERO)
            statement.save(update_fields=["total"])
            return statement
    except IntegrityError:
        return None  # closed meanwhile by another run: one statement per month
