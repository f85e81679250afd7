"""Celery tasks for billing: thin, they call a service. Routed to the billing queue
(`CANOPY_BILLING_QUEUE`), so a month's close or an export never waits behind admission, nor
holds it up."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from billing.selectors.periods import month_start
from billing.services import budgets, exports, metering, statements


@shared_task
def meter_last_hour() -> int:
    """Beat, a few minutes past every hour: meter the hour that ended and check budgets."""
    return metering.meter_last_hour()


@shared_task
def budgets_check() -> int:
    """Beat, every few minutes: alert budgets whose spend or forecast crossed a threshold."""
    return len(budgets.budget_alerts_send(month=month_start(timezone.now().date())))


@shared_task
def close_last_month() -> int:
    """Beat, daily: close the month that ended (a no-op once its statements exist)."""
    last_month = month_start(month_start(timezone.now().date()) - timedelta(days=1))
    return len(statements.statements_close(month=last_month))


@shared_task
def usage_export(**kwargs) -> str:
    """A user's raw hours as a CSV file (`services.exports.usage_export_request`)."""
    return exports.usage_export_write(**kwargs)
