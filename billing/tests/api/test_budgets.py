"""The budgets API: spent and forecast per budget, its filters, and finance alone sets budgets."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import Budget
from billing.services.metering import meter_range
from billing.tests.helpers import SEPTEMBER, pricey_server

pytestmark = pytest.mark.django_db


def test_budgets_api_lists_spent_and_forecast(world, api_as):
    pricey_server(world)
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=2))
    answer = api_as(world["carol"]).get("/api/v1/budgets/?period=2026-09")
    assert answer.status_code == 200
    rows = {row["label"]: row for row in answer.json()["results"]}
    assert set(rows) == {"project web-shop", "cost center CC-200"}
    assert (rows["project web-shop"]["spent"], rows["project web-shop"]["percent"]) == ("10.00", 20)
    # A member reads their project's budget, not the cost centers'; dave (data-lab) neither.
    mine = api_as(world["alice"]).get("/api/v1/budgets/").json()["results"]
    assert [row["label"] for row in mine] == ["project web-shop"]
    assert api_as(world["dave"]).get("/api/v1/budgets/").json()["results"] == []
    assert api_as(world["carol"]).get("/api/v1/budgets/?period=2026-9").status_code == 400


def test_budgets_api_filters_lists(world, api_as):
    carol = api_as(world["carol"])
    rows = carol.get("/api/v1/budgets/?cost_center=CC-200").json()["results"]
    assert [row["label"] for row in rows] == ["cost center CC-200"]
    rows = carol.get(f"/api/v1/budgets/?project={world['web_shop'].pk}").json()["results"]
    assert [row["label"] for row in rows] == ["project web-shop"]
    assert carol.get("/api/v1/budgets/?organization=acme").json()["count"] == 2
    assert carol.get("/api/v1/budgets/?refuse_orders_over_budget=maybe").status_code == 400


def test_finance_sets_budgets_over_the_api_and_members_may_not(world, api_as):
    carol, alice = api_as(world["carol"]), api_as(world["alice"])
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
        {"project": world["web_shop"].pk, "monthly_amount": "10.00"},
        format="json",
    )
    assert again.status_code == 400 and "project" in again.json(), again.json()
    negative = carol.patch(f"/api/v1/budgets/{budget_id}/", {"monthly_amount": "-1"}, format="json")
    assert negative.status_code == 400 and "monthly_amount" in negative.json()
    # alice reads web-shop's budget but may not change, create or delete any.
    web_shop = Budget.objects.get(project=world["web_shop"])
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
