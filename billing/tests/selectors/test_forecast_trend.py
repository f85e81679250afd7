"""The forecast's trend: a budget whose scope keeps growing forecasts above its run rate by the
growth of the last two weeks carried on to the month's end; without two full weeks of history,
or when the cost fell, the forecast is the run rate's."""

from datetime import timedelta

import pytest

from billing.selectors.periods import month_period
from billing.services.metering import meter_backfill
from billing.tests.helpers import (
    GROWTH_DAYS,
    SMALL_HOURLY,
    TREND_NOW,
    cents,
    event,
    expected_trend,
    grow,
    make_resource,
    run_rate_forecast,
    web_shop_status,
)

pytestmark = pytest.mark.django_db


def test_a_scope_that_grew_for_three_weeks_forecasts_its_growth_on_top_of_the_run_rate(world):
    grow(world, first_day=TREND_NOW - timedelta(days=GROWTH_DAYS), days=GROWTH_DAYS, now=TREND_NOW)
    status = web_shop_status(TREND_NOW)
    assert status.run_rate == GROWTH_DAYS * SMALL_HOURLY and status.accrued == 0
    expected = expected_trend(TREND_NOW)
    # Below its cap (what runs now adds for the 10 days left): the formula is what counts.
    assert 0 < expected < status.run_rate * 240
    assert status.trend == cents(expected)
    assert status.forecast == cents(run_rate_forecast(status, TREND_NOW) + expected)


def test_without_history_there_is_no_trend(world):
    """Servers run since the month began, nothing metered yet: the run rate alone."""
    for _ in range(3):
        server = make_resource(world, size="small")
        event(server, "created", month_period(TREND_NOW.date()).start, size="small")
    status = web_shop_status(TREND_NOW)
    assert status.run_rate == 3 * SMALL_HOURLY
    assert status.trend == 0
    assert status.forecast == cents(run_rate_forecast(status, TREND_NOW))


def test_less_than_two_weeks_of_history_has_no_trend(world):
    """Ten days of steady growth: its first days would read as growth from nothing."""
    grow(world, first_day=TREND_NOW - timedelta(days=10), days=10, now=TREND_NOW)
    status = web_shop_status(TREND_NOW)
    assert status.spent > 0 and status.trend == 0
    assert status.forecast == cents(run_rate_forecast(status, TREND_NOW))


def test_a_falling_cost_has_no_trend(world):
    """Servers deleted one a day: the cut shows in what runs now, not again as a trend."""
    start = TREND_NOW - timedelta(days=GROWTH_DAYS)
    for n in range(GROWTH_DAYS - 1):
        server = make_resource(world, size="small")
        event(server, "created", start, size="small")
        event(server, "deleted", start + timedelta(days=n + 1))
    meter_backfill(start=start, end=TREND_NOW)
    status = web_shop_status(TREND_NOW)
    assert status.spent > 0 and status.trend == 0
    assert status.forecast == cents(run_rate_forecast(status, TREND_NOW))
