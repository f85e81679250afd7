"""The forecast's trend: a budget whose scope keeps growing forecasts above its run rate by the
growth of the last two weeks carried on to the month's end; without two full weeks of history,
or when the cost fell, the forecast is the run rate's."""

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import Budget, BudgetAlert
from billing.pricing import CENT
from billing.selectors.budgets import BudgetStatus, budget_statuses
from billing.selectors.periods import month_period
from billing.services.budgets import budget_alerts_send
from billing.services.metering import meter_backfill
from billing.tests.helpers import event, make_resource

pytestmark = pytest.mark.django_db

SMALL_HOURLY = Decimal("0.02")  # the demo card's small server
NOW = datetime(2026, 10, 22, tzinfo=UTC)  # midnight: metered to the hour, nothing accrued
GROWTH_DAYS = 21  # one more small server each day, three weeks long


def _grow(demo, *, first_day: datetime, days: int, now: datetime) -> None:
    """web-shop gets one more small server at midnight each day from `first_day`, metered."""
    for n in range(days):
        server = make_resource(demo, size="small")
        event(server, "created", first_day + timedelta(days=n), size="small")
    meter_backfill(start=first_day, end=now)


def _web_shop(now: datetime) -> BudgetStatus:
    (status,) = [
        s
        for s in budget_statuses(month=now.date(), now=now)
        if s.budget.project and s.budget.project.slug == "web-shop"
    ]
    return status


def _run_rate_forecast(status: BudgetStatus, now: datetime) -> Decimal:
    """The forecast without a trend: spent + accrued + what runs now for the hours left."""
    hours_left = Decimal((month_period(now.date()).end - now).total_seconds()) / 3600
    return status.spent + status.accrued + status.run_rate * hours_left


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _expected_trend(now: datetime) -> Decimal:
    """The trend's formula over the daily costs `_grow` makes: on day d of the growth, d small
    servers ran all day."""
    first = (now - timedelta(days=GROWTH_DAYS)).date()

    def daily(day: date) -> Decimal:
        return ((day - first).days + 1) * 24 * SMALL_HOURLY

    last = sum(daily(now.date() - timedelta(days=n)) for n in range(1, 8))
    before = sum(daily(now.date() - timedelta(days=n)) for n in range(8, 15))
    growth = (last - before) / 49
    days_left = Decimal((month_period(now.date()).end - now).total_seconds()) / 86400
    return growth * days_left * days_left / 2


def test_a_scope_that_grew_for_three_weeks_forecasts_its_growth_on_top_of_the_run_rate(demo):
    _grow(demo, first_day=NOW - timedelta(days=GROWTH_DAYS), days=GROWTH_DAYS, now=NOW)
    status = _web_shop(NOW)
    assert status.run_rate == GROWTH_DAYS * SMALL_HOURLY and status.accrued == 0
    expected = _expected_trend(NOW)
    # Below its cap (what runs now adds for the 10 days left): the formula is what counts.
    assert 0 < expected < status.run_rate * 240
    assert status.trend == _cents(expected)
    assert status.forecast == _cents(_run_rate_forecast(status, NOW) + expected)


def test_without_history_there_is_no_trend(demo):
    """Servers run since the month began, nothing metered yet: the run rate alone."""
    for _ in range(3):
        server = make_resource(demo, size="small")
        event(server, "created", month_period(NOW.date()).start, size="small")
    status = _web_shop(NOW)
    assert status.run_rate == 3 * SMALL_HOURLY
    assert status.trend == 0
    assert status.forecast == _cents(_run_rate_forecast(status, NOW))


def test_less_than_two_weeks_of_history_has_no_trend(demo):
    """Ten days of steady growth: its first days would read as growth from nothing."""
    _grow(demo, first_day=NOW - timedelta(days=10), days=10, now=NOW)
    status = _web_shop(NOW)
    assert status.spent > 0 and status.trend == 0
    assert status.forecast == _cents(_run_rate_forecast(status, NOW))


def test_a_falling_cost_has_no_trend(demo):
    """Servers deleted one a day: the cut shows in what runs now, not again as a trend."""
    start = NOW - timedelta(days=GROWTH_DAYS)
    for n in range(GROWTH_DAYS - 1):
        server = make_resource(demo, size="small")
        event(server, "created", start, size="small")
        event(server, "deleted", start + timedelta(days=n + 1))
    meter_backfill(start=start, end=NOW)
    status = _web_shop(NOW)
    assert status.spent > 0 and status.trend == 0
    assert status.forecast == _cents(_run_rate_forecast(status, NOW))


def test_forecast_alerts_count_the_trend_once_per_threshold(
    demo, django_capture_on_commit_callbacks
):
    """A budget the run rate alone stays under (80 % but not 100 %): the trend takes the
    forecast over 100 %, and the alert, sent once, says how much of it is trend."""
    _grow(demo, first_day=NOW - timedelta(days=GROWTH_DAYS), days=GROWTH_DAYS, now=NOW)
    plain = _run_rate_forecast(_web_shop(NOW), NOW)
    amount = _cents(plain + _expected_trend(NOW) / 2)
    Budget.objects.filter(project=demo["web_shop"]).update(monthly_amount=amount)
    status = _web_shop(NOW)
    assert plain * 100 / amount >= 80 and plain < amount <= status.forecast

    with django_capture_on_commit_callbacks(execute=True):
        budget_alerts_send(month=NOW.date(), now=NOW)
        budget_alerts_send(month=NOW.date(), now=NOW)
    forecast_alerts = BudgetAlert.objects.filter(
        budget=status.budget, basis=BudgetAlert.Basis.FORECAST
    )
    assert sorted(forecast_alerts.values_list("threshold", flat=True)) == [80, 100]
    (email,) = [m for m in mail.outbox if "forecast at 100 %" in m.subject and "carol" in m.to[0]]
    assert f"of which {status.trend} USD if it keeps growing" in email.body


def test_the_budgets_page_and_api_show_the_trend(demo, client, api_as, monkeypatch):
    """The page says how much of the forecast is trend, the API gives it (both read the clock:
    it is set to NOW, after three weeks of growth)."""
    _grow(demo, first_day=NOW - timedelta(days=GROWTH_DAYS), days=GROWTH_DAYS, now=NOW)
    trend = _web_shop(NOW).trend
    client.force_login(demo["carol"])
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    assert f"of which trend: {trend}" in client.get("/costs/budgets/").content.decode()
    rows = api_as(demo["carol"]).get("/api/v1/budgets/").json()["results"]
    (web_shop,) = [row for row in rows if row["label"] == "project web-shop"]
    assert web_shop["trend"] == str(trend) and trend > 0
