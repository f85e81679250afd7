"""seed_demo's cost history (`portal.demo_history`): what carol sees first is three months of
plausible costs, closed statements, a budget alert and this month's accrual (the test builds the
history without the live demo workload, which needs workers)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import BudgetAlert, Statement, Usage
from billing.pricing import monthly_quote
from billing.selectors.budgets import budget_list
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period, period_parse
from portal.tests.helpers import history_fixture  # noqa: F401  (fixture: the demo's history)
from provisioning.models import Resource

pytestmark = pytest.mark.django_db


def test_last_month_has_a_chargeback_by_project_and_closed_statements(demo, history, client):
    last_month = month_period(history[-1])
    report = chargeback_report(user=demo["carol"], period=last_month, group_by="project")
    assert {row.label for row in report.rows} == {"web-shop", "data-lab"}
    assert all(row.cost > 0 for row in report.rows)
    # Each past month is closed per cost center, its total the month's usage of the cost center
    # (the history is metered before the months are closed; its lines are rounded to the cent
    # one by one).
    for month in history:
        statements = Statement.objects.filter(month=month)
        assert set(statements.values_list("cost_center", flat=True)) == {"CC-100", "CC-200"}
        for statement in statements:
            lines = list(statement.lines.all())
            period = month_period(month)
            claimed = sum(
                u.cost
                for u in Usage.objects.filter(
                    organization_id=statement.organization_id,
                    cost_center=statement.cost_center,
                    hour__gte=period.start,
                    hour__lt=period.end,
                )
            )
            assert statement.total == sum(line.cost for line in lines)
            assert abs(statement.total - claimed) <= Decimal("0.01") * len(lines)
    statement = Statement.objects.filter(month=history[-1]).first()
    client.force_login(demo["carol"])
    pdf = client.get(f"/costs/statements/{statement.pk}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = client.get(f"/costs/statements/{statement.pk}.csv").content.decode()
    assert text.startswith("usage month,project,kind") and "server" in text


def test_the_history_has_resizes_deletions_and_a_price_version(demo, history):
    resized = Usage.objects.filter(resource__name="shop-web-2").values_list("size", flat=True)
    assert {"small", "medium"} <= set(resized)
    load_test = Resource.objects.get(name="load-test")
    assert load_test.events.filter(kind="deleted").exists()
    assert not Usage.objects.filter(
        resource=load_test, hour__gte=load_test.events.get(kind="deleted").at
    ).exists()
    # Large servers got cheaper from last month on: the month before keeps the old price.
    rates = set(Usage.objects.filter(size="large").values_list("hour__month", "rate"))
    assert (history[1].month, Decimal("0.080000")) in rates


def test_web_shop_forecast_follows_what_runs_and_its_alert_was_sent(demo, history):
    """The forecast of this month is within 10 % of the monthly estimates of what runs."""
    now = timezone.now()
    (web_shop,) = [
        s
        for s in budget_list(user=demo["carol"], month=now.date(), now=now)
        if s.budget.project_id == demo["web_shop"].pk
    ]
    running = Resource.objects.filter(project=demo["web_shop"], state="active")
    estimates = sum(
        monthly_quote(
            cloud_account_id=r.cloud_account_id,
            resources=[{"kind": r.kind, "properties": r.properties}],
        )
        for r in running
    )
    hours = Decimal(month_period(now.date()).hours)
    assert estimates > 0
    assert abs(web_shop.forecast - estimates * hours / 730) <= estimates * Decimal("0.10")
    assert abs(web_shop.forecast - estimates) <= estimates * Decimal("0.10")
    # Its last weeks cut servers: cuts show in what runs now, the trend counts only growth.
    assert web_shop.trend == 0
    # Its forecast is over the 80 % threshold and the alert went.
    assert web_shop.forecast_percent >= 80
    assert BudgetAlert.objects.filter(
        budget=web_shop.budget, basis=BudgetAlert.Basis.FORECAST, threshold=80
    ).exists()


def test_this_months_report_has_the_accrual(demo, history):
    report = chargeback_report(user=demo["carol"], period=period_parse(), group_by="project")
    assert report.includes_now and report.run_rate > 0
    # Metered up to the last full hour; what runs since is accrued, less than two hours' worth.
    assert 0 <= report.accrued <= report.run_rate * 2 / 730 + Decimal("0.01")
    month_start = month_period(timezone.now().date()).start
    if timezone.now() - month_start > timedelta(hours=2):
        assert report.total > 0
