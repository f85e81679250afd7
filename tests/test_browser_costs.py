"""carol's first look at Costs in a real browser, on the demo with its history: this month's
accrual, charts drawn from the vendored Chart.js, last month's chargeback by project, a closed
statement as CSV and PDF, a budget whose forecast crossed its threshold, and the alert."""

import pytest
from playwright.sync_api import expect

from billing.selectors.periods import month_period
from portal import demo_history
from tests.test_browser import _login, browser  # noqa: F401  (fixture: Debian's Chromium)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history(demo) -> list:
    """Built before the `browser` fixture starts Playwright's loop in this thread."""
    demo_history.seed()
    from django.utils import timezone

    return demo_history.history_months(timezone.now().date())


def test_carol_sees_month_to_date_last_month_statements_and_the_budget_alert(
    demo,
    history,
    live_server,
    browser,  # noqa: F811
):
    carol = _login(browser, live_server.url, "carol")
    carol.get_by_role("link", name="Costs").first.click()

    # This month: metered plus what runs since the last metered hour, marked as an estimate.
    expect(carol.get_by_test_id("total-with-accrued")).to_be_visible()
    expect(carol.get_by_test_id("totals")).to_contain_text("estimated until metered")
    expect(carol.get_by_test_id("run-rate")).not_to_have_text("0.00")
    # The charts are drawn by Chart.js from static files (no network but the live server).
    chart = carol.locator("canvas[data-chart='stacked-bars']")
    # web-shop, data-lab and the accrual since the last metered hour (estimated)
    expect(chart).to_have_attribute("data-drawn", "3")
    expect(carol.locator("canvas[data-chart='grouped-bars']")).to_have_attribute("data-drawn", "2")

    # Last month by project: two rows, each with a cost.
    last_month = month_period(history[-1]).label
    carol.fill("input[name=period]", last_month)
    carol.select_option("select[name=group_by]", label="Project")
    carol.click("button:has-text('Show')")
    expect(carol.locator("h1")).to_have_text(f"Chargeback {last_month}")
    rows = carol.get_by_test_id("chargeback-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    for row in rows.all():
        assert float(row.locator("td").nth(3).inner_text()) > 0

    # The closed statement of last month, as a document.
    carol.get_by_role("link", name="Statements").click()
    newest = carol.get_by_test_id("statements").locator("tbody tr").first
    expect(newest).to_contain_text(last_month)
    for link, start in [("PDF", b"%PDF"), ("CSV", b"usage month")]:
        href = newest.get_by_role("link", name=link).get_attribute("href")
        response = carol.request.get(href)
        assert response.ok and response.body().startswith(start), link

    # Budgets: web-shop's forecast is over its threshold, with the burn-down and its forecast.
    carol.get_by_role("link", name="Budgets").click()
    forecast = carol.get_by_test_id("budgets").locator("tr", has_text="web-shop")
    expect(forecast.get_by_test_id("forecast").locator(".status")).to_be_visible()
    expect(carol.locator("canvas[data-chart='burn-down']").first).to_have_attribute(
        "data-drawn", "3"
    )
    carol.get_by_role("link", name="Notifications").click()
    expect(carol.locator("body")).to_contain_text("Budget of project web-shop forecast at 80 %")
