"""The budgets page: spent beside the forecast, and how much of the forecast is trend (which the
API gives too)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.tests.helpers import GROWTH_DAYS, TREND_NOW, grow, web_shop_status

pytestmark = pytest.mark.django_db


def test_budget_page_shows_spent_beside_the_forecast(world, client):
    client.force_login(world["carol"])
    page = client.get("/costs/budgets/").content.decode()
    assert "project web-shop" in page and "cost center CC-200" in page and "Forecast" in page
    client.force_login(world["dave"])
    assert "project web-shop" not in client.get("/costs/budgets/").content.decode()


def test_the_budgets_page_and_api_show_the_trend(world, client, api_as, monkeypatch):
    """The page says how much of the forecast is trend, the API gives it (both read the clock:
    it is set to TREND_NOW, after three weeks of growth)."""
    grow(world, first_day=TREND_NOW - timedelta(days=GROWTH_DAYS), days=GROWTH_DAYS, now=TREND_NOW)
    trend = web_shop_status(TREND_NOW).trend
    client.force_login(world["carol"])
    monkeypatch.setattr(timezone, "now", lambda: TREND_NOW)
    assert f"of which trend: {trend}" in client.get("/costs/budgets/").content.decode()
    rows = api_as(world["carol"]).get("/api/v1/budgets/").json()["results"]
    (web_shop,) = [row for row in rows if row["label"] == "project web-shop"]
    assert web_shop["trend"] == str(trend) and trend > 0
