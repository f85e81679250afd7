"""Celery tasks for billing: thin, they call a service. Run on the default queue (beat)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from billing import services
from billing.selectors import month_start


@shared_task
def meter_last_hour() -> int:
    """Beat, a few minutes past every hour: meter the hour that ended and check budgets."""
    return services.meter_last_hour()


@shared_task
def budgets_check() -> int:
    """Beat, every few minutes: alert budgets whose spend or forecast crossed a threshold."""
    return len(services.budget_alerts_send(month=month_start(timezone.now().date())))


@shared_task
def close_last_month() -> int:
    """Beat, daily: close the month that ended (a no-op once its statements exist)."""
    last_month = month_start(month_start(timezone.now().date()) - timedelta(days=1))
    return len(services.statements_close(month=last_month))
