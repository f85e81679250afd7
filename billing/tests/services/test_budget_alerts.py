"""Budget alerts: once per threshold and month, on what was spent and on the forecast (its run
rate, its trend), in the app and by email."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from billing.models import Budget, BudgetAlert
from billing.selectors.budgets import budget_statuses
from billing.selectors.periods import month_period
from billing.services.budgets import budget_alerts_send
from billing.services.metering import meter_range
from billing.tests.helpers import (
    GROWTH_DAYS,
    MEDIUM_HOURLY,
    SEPTEMBER,
    TREND_NOW,
    cents,
    event,
    expected_trend,
    grow,
    make_resource,
    now_in_month,
    pricey_server,
    run_rate_forecast,
    web_shop_status,
)
from core.models import Notification

pytestmark = pytest.mark.django_db


def _alerts() -> list[tuple[str, int]]:
    return list(BudgetAlert.objects.values_list("budget__project__slug", "threshold"))


def test_a_budget_alert_is_sent_once_per_threshold_and_month(world):
    pricey_server(world)
    month = SEPTEMBER.date()
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=6))  # 30.00 of 50.00
    budget_alerts_send(month=month)
    budget_alerts_send(month=month)
    assert _alerts() == [("web-shop", 50)]
    # bob manages web-shop, carol is Acme's finance: one notification each.
    notified = Notification.objects.filter(subject__contains="50 %")
    assert sorted(n.user.username for n in notified) == ["bob", "carol"]

    meter_range(start=SEPTEMBER + timedelta(hours=6), end=SEPTEMBER + timedelta(hours=11))
    budget_alerts_send(month=month)  # 55.00: past 80 and 100 at once
    budget_alerts_send(month=month)
    assert sorted(_alerts()) == [("web-shop", 50), ("web-shop", 80), ("web-shop", 100)]
    assert Notification.objects.filter(user=world["bob"]).count() == 3


def test_forecast_alerts_go_once_per_threshold_in_app_and_by_email(
    world, django_capture_on_commit_callbacks
):
    """web-shop (50.00 a month) runs 3 medium servers: 87.60 a month. Early in the month the
    spend is far below 50 %, yet the forecast crosses 80 % and 100 %: both alerts go, once."""
    now = now_in_month()
    for _ in range(3):
        server = make_resource(world, size="medium")
        event(server, "created", month_period(now.date()).start, size="medium")
    month = month_period(now.date()).start.date()
    (status,) = [
        s for s in budget_statuses(month=month, now=now) if s.budget.project == world["web_shop"]
    ]
    hours = Decimal(month_period(month).hours)
    assert status.forecast == cents(3 * MEDIUM_HOURLY * hours)

    with django_capture_on_commit_callbacks(execute=True):
        budget_alerts_send(month=month, now=now)
        budget_alerts_send(month=month, now=now)
    forecast_alerts = BudgetAlert.objects.filter(basis=BudgetAlert.Basis.FORECAST)
    assert sorted(forecast_alerts.values_list("threshold", flat=True)) == [80, 100]
    subjects = set(Notification.objects.values_list("subject", flat=True))
    assert f"Budget of project web-shop forecast at 100 % for {month:%B %Y}" in subjects
    # bob manages web-shop, carol is finance: each gets the email once.
    emailed = sorted(m.to[0] for m in mail.outbox if "forecast at 100 %" in m.subject)
    assert emailed == [world["bob"].email, world["carol"].email]


def test_forecast_alerts_count_the_trend_once_per_threshold(
    world, django_capture_on_commit_callbacks
):
    """A budget the run rate alone stays under (80 % but not 100 %): the trend takes the
    forecast over 100 %, and the alert, sent once, says how much of it is trend."""
    grow(world, first_day=TREND_NOW - timedelta(days=GROWTH_DAYS), days=GROWTH_DAYS, now=TREND_NOW)
    plain = run_rate_forecast(web_shop_status(TREND_NOW), TREND_NOW)
    amount = cents(plain + expected_trend(TREND_NOW) / 2)
    Budget.objects.filter(project=world["web_shop"]).update(monthly_amount=amount)
    status = web_shop_status(TREND_NOW)
    assert plain * 100 / amount >= 80 and plain < amount <= status.forecast

    with django_capture_on_commit_callbacks(execute=True):
        budget_alerts_send(month=TREND_NOW.date(), now=TREND_NOW)
        budget_alerts_send(month=TREND_NOW.date(), now=TREND_NOW)
    forecast_alerts = BudgetAlert.objects.filter(
        budget=status.budget, basis=BudgetAlert.Basis.FORECAST
    )
    assert sorted(forecast_alerts.values_list("threshold", flat=True)) == [80, 100]
    (email,) = [m for m in mail.outbox if "forecast at 100 %" in m.subject and "carol" in m.to[0]]
    assert f"of which {status.trend} USD if it keeps growing" in email.body
