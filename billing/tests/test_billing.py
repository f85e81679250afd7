"""Budgets (alerts once per threshold, forecast, admission check) and monthly statements."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from billing.models import Budget, BudgetAlert, Rate, Statement, Usage
from billing.selectors.budgets import budget_check, budget_list, budget_statuses
from billing.services.budgets import budget_alerts_send
from billing.services.metering import meter_hour, meter_last_hour, meter_range
from billing.services.statements import statements_close
from billing.tests.helpers import event, make_resource
from core.models import Notification

pytestmark = pytest.mark.django_db

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
def pricey(demo):
    """A 'huge' server size at 5.00/h: web-shop's 50.00 budget goes fast."""
    card = Rate.objects.get(resource_kind="server", size="small").rate_card
    Rate.objects.create(rate_card=card, resource_kind="server", size="huge", price=Decimal("5"))
    server = make_resource(demo, size="huge")
    event(server, "created", SEPTEMBER, size="huge")
    return server


def _alerts() -> list[tuple[str, int]]:
    return list(BudgetAlert.objects.values_list("budget__project__slug", "threshold"))


def test_a_budget_alert_is_sent_once_per_threshold_and_month(demo, pricey):
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
    assert Notification.objects.filter(user=demo["bob"]).count() == 3


def test_forecast_carries_the_run_rate_to_month_end(demo, pricey):
    """Metered + accrued since the last metered hour + what runs now for the hours left: the
    server at 5.00/h runs all September (720 hours), whatever was metered so far."""
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=2))
    now = SEPTEMBER + timedelta(hours=72)  # 3 days of 30 gone, 2 hours (10.00) metered
    (status,) = [
        s
        for s in budget_statuses(month=SEPTEMBER.date(), now=now)
        if s.budget.project == demo["web_shop"]
    ]
    hourly = Decimal("5")
    assert (status.spent, status.accrued) == (2 * hourly, 70 * hourly)
    assert status.percent == int(72 * hourly * 100 / 50)
    assert status.forecast == 720 * hourly


def test_budget_list_follows_permissions(demo):
    def labels(user):
        return {s.budget.label for s in budget_list(user=demo[user], month=SEPTEMBER.date())}

    assert labels("carol") == {"project web-shop", "cost center CC-200"}
    assert labels("bob") == {"project web-shop"}
    assert labels("alice") == {"project web-shop"}  # what her orders are checked against
    assert labels("dave") == set()  # data-lab has only its cost center's budget


def test_budget_check_refuses_orders_over_a_refusing_budget(demo):
    web_shop = demo["web_shop"]
    assert budget_check(project=web_shop, monthly_cost=Decimal("1000000")) is None  # warns only
    Budget.objects.filter(project=web_shop).update(refuse_orders_over_budget=True)
    assert budget_check(project=web_shop, monthly_cost=Decimal("1")) is None
    message = budget_check(project=web_shop, monthly_cost=Decimal("1000000"))
    assert "over its budget of 50.00 USD" in message
    Budget.objects.filter(project=web_shop).update(refuse_orders_over_budget=False)
    Budget.objects.filter(cost_center="CC-200").update(
        cost_center="CC-100", refuse_orders_over_budget=True
    )
    assert "cost center CC-100" in budget_check(project=web_shop, monthly_cost=Decimal("1000000"))


def test_the_periodic_task_meters_the_hour_that_ended(demo):
    server = make_resource(demo, size="small")
    now = timezone.now()
    event(server, "created", now - timedelta(hours=3), size="small")
    meter_last_hour(now=now)
    last_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    assert list(Usage.objects.values_list("hour", "cost")) == [(last_hour, Decimal("0.020000"))]


def _september_usage(demo):
    web = make_resource(demo, size="small")
    lab = make_resource(demo, user="dave", project="data_lab", size="large")
    event(web, "created", SEPTEMBER, size="small")
    event(lab, "created", SEPTEMBER + timedelta(days=29, hours=20), size="large")
    meter_range(
        start=SEPTEMBER + timedelta(days=29, hours=20), end=datetime(2026, 10, 1, tzinfo=UTC)
    )
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=10))
    return web, lab


def test_closing_a_month_writes_one_immutable_statement_per_cost_center(demo):
    _september_usage(demo)
    statements = statements_close(month=SEPTEMBER.date())
    assert {(s.cost_center, s.total) for s in statements} == {
        ("CC-100", Decimal("0.28")),  # 14 h of a small server
        ("CC-200", Decimal("0.32")),  # 4 h of a large one
    }
    september = Usage.objects.filter(hour__lt=datetime(2026, 10, 1, tzinfo=UTC))
    assert sum(s.total for s in statements) == september.aggregate(t=Sum("cost"))["t"]
    assert statements_close(month=SEPTEMBER.date()) == []  # closing again changes nothing
    assert Statement.objects.count() == 2


def test_late_usage_goes_to_the_next_statement_as_an_adjustment(demo):
    _september_usage(demo)
    statements_close(month=SEPTEMBER.date())
    meter_hour(hour=SEPTEMBER + timedelta(hours=12))  # metered after September was closed
    october = datetime(2026, 10, 1, tzinfo=UTC)
    meter_range(start=october, end=october + timedelta(hours=2))
    (closed,) = Statement.objects.filter(cost_center="CC-100", month=SEPTEMBER.date())
    assert closed.total == Decimal("0.28")  # unchanged
    statements = statements_close(month=october.date())
    cc100 = next(s for s in statements if s.cost_center == "CC-100")
    lines = {(line.usage_month.month, line.is_adjustment, line.cost) for line in cc100.lines.all()}
    assert lines == {(9, True, Decimal("0.02")), (10, False, Decimal("0.04"))}
    assert cc100.total == Decimal("0.06")


def test_an_unfinished_month_cannot_be_closed(demo):
    with pytest.raises(ValidationError):
        statements_close(month=timezone.now().date())


def test_statements_download_as_csv_and_pdf_for_finance_only(demo, client):
    _september_usage(demo)
    (statement, _) = sorted(statements_close(month=SEPTEMBER.date()), key=lambda s: s.cost_center)
    client.force_login(demo["carol"])
    assert "CC-100" in client.get("/costs/statements/").content.decode()
    csv_text = client.get(f"/costs/statements/{statement.pk}.csv").content.decode()
    assert "web-shop,server" in csv_text and "total,0.28,USD" in csv_text
    pdf = client.get(f"/costs/statements/{statement.pk}.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"/costs/statements/{statement.pk}/").status_code == 200
    client.force_login(demo["alice"])
    assert client.get(f"/costs/statements/{statement.pk}.pdf").status_code == 404


def test_meter_command_rejects_a_backwards_range(demo):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError):
        call_command("meter", "--from", "2026-10-05T10:00", "--to", "2026-10-05T09:00")


def test_budget_page_shows_spent_beside_the_forecast(demo, client):
    client.force_login(demo["carol"])
    page = client.get("/costs/budgets/").content.decode()
    assert "project web-shop" in page and "cost center CC-200" in page and "Forecast" in page
    client.force_login(demo["dave"])
    assert "project web-shop" not in client.get("/costs/budgets/").content.decode()


def test_an_hour_is_metered_only_once_it_has_ended(demo):
    with pytest.raises(ValidationError):
        meter_hour(hour=timezone.now())


def test_budgets_api_lists_spent_and_forecast(demo, pricey, api_as):
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=2))
    answer = api_as(demo["carol"]).get("/api/v1/budgets/?period=2026-09")
    assert answer.status_code == 200
    rows = {row["label"]: row for row in answer.json()["results"]}
    assert set(rows) == {"project web-shop", "cost center CC-200"}
    assert (rows["project web-shop"]["spent"], rows["project web-shop"]["percent"]) == ("10.00", 20)
    # A member reads their project's budget, not the cost centers'; dave (data-lab) neither.
    mine = api_as(demo["alice"]).get("/api/v1/budgets/").json()["results"]
    assert [row["label"] for row in mine] == ["project web-shop"]
    assert api_as(demo["dave"]).get("/api/v1/budgets/").json()["results"] == []
    assert api_as(demo["carol"]).get("/api/v1/budgets/?period=2026-9").status_code == 400


def test_budgets_api_filters_lists(demo, api_as):
    carol = api_as(demo["carol"])
    rows = carol.get("/api/v1/budgets/?cost_center=CC-200").json()["results"]
    assert [row["label"] for row in rows] == ["cost center CC-200"]
    rows = carol.get(f"/api/v1/budgets/?project={demo['web_shop'].pk}").json()["results"]
    assert [row["label"] for row in rows] == ["project web-shop"]
    assert carol.get("/api/v1/budgets/?organization=acme").json()["count"] == 2
    assert carol.get("/api/v1/budgets/?refuse_orders_over_budget=maybe").status_code == 400


def test_finance_sets_budgets_over_the_api_and_members_may_not(demo, api_as):
    carol, alice = api_as(demo["carol"]), api_as(demo["alice"])
    created = carol.post(
        "/api/v1/budgets/",
        {"organization": "acme", "cost_center": "CC-300", "monthly_amount": "250.00"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert (created.json()["label"], created.json()["monthly_amount"]) == (
        "cost center CC-300",
        "250.00",
    )
    budget_id = created.json()["id"]
    changed = carol.patch(
        f"/api/v1/budgets/{budget_id}/",
        {"monthly_amount": "300.00", "refuse_orders_over_budget": True},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    budget = Budget.objects.get(pk=budget_id)
    assert (budget.monthly_amount, budget.refuse_orders_over_budget) == (Decimal("300.00"), True)
    # One budget per project, said as such; a negative amount is refused by field.
    again = carol.post(
        "/api/v1/budgets/",
        {"project": demo["web_shop"].pk, "monthly_amount": "10.00"},
        format="json",
    )
    assert again.status_code == 400 and "project" in again.json(), again.json()
    negative = carol.patch(f"/api/v1/budgets/{budget_id}/", {"monthly_amount": "-1"}, format="json")
    assert negative.status_code == 400 and "monthly_amount" in negative.json()
    # alice reads web-shop's budget but may not change, create or delete any.
    web_shop = Budget.objects.get(project=demo["web_shop"])
    assert alice.get(f"/api/v1/budgets/{web_shop.pk}/").status_code == 200
    assert (
        alice.patch(f"/api/v1/budgets/{web_shop.pk}/", {"monthly_amount": "1"}, format="json")
    ).status_code == 403
    assert alice.delete(f"/api/v1/budgets/{web_shop.pk}/").status_code == 403
    assert (
        alice.post(
            "/api/v1/budgets/",
            {"organization": "acme", "cost_center": "CC-9", "monthly_amount": "1"},
            format="json",
        ).status_code
        == 403
    )
    assert carol.delete(f"/api/v1/budgets/{budget_id}/").status_code == 204
    assert not Budget.objects.filter(pk=budget_id).exists()
