"""Budgets read: the forecast carries the run rate to the month's end, the list follows
permissions, the admission check refuses orders over a refusing budget; a budget without
usage (a factory's budget, without the world) has spent nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.models import Budget
from billing.selectors.budgets import budget_check, budget_list, budget_statuses
from billing.services.metering import meter_range
from billing.tests.factories import BudgetFactory
from billing.tests.helpers import SEPTEMBER, T0, pricey_server

pytestmark = pytest.mark.django_db


def test_forecast_carries_the_run_rate_to_month_end(world):
    """Metered + accrued since the last metered hour + what runs now for the hours left: the
    server at 5.00/h runs all September (720 hours), whatever was metered so far."""
    pricey_server(world)
    meter_range(start=SEPTEMBER, end=SEPTEMBER + timedelta(hours=2))
    now = SEPTEMBER + timedelta(hours=72)  # 3 days of 30 gone, 2 hours (10.00) metered
    (status,) = [
        s
        for s in budget_statuses(month=SEPTEMBER.date(), now=now)
        if s.budget.project == world["web_shop"]
    ]
    hourly = Decimal("5")
    assert (status.spent, status.accrued) == (2 * hourly, 70 * hourly)
    assert status.percent == int(72 * hourly * 100 / 50)
    assert status.forecast == 720 * hourly


def test_budget_list_follows_permissions(world):
    def labels(user):
        return {s.budget.label for s in budget_list(user=world[user], month=SEPTEMBER.date())}

    assert labels("carol") == {"project web-shop", "cost center CC-200"}
    assert labels("bob") == {"project web-shop"}
    assert labels("alice") == {"project web-shop"}  # what her orders are checked against
    assert labels("dave") == set()  # data-lab has only its cost center's budget


def test_budget_check_refuses_orders_over_a_refusing_budget(world):
    web_shop = world["web_shop"]
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


def test_a_budget_without_usage_has_spent_nothing():
    budget = BudgetFactory(monthly_amount=Decimal("80"))
    (status,) = budget_statuses(
        month=T0.date(), budgets=type(budget).objects.filter(pk=budget.pk), now=T0
    )
    assert (status.spent, status.accrued, status.percent) == (Decimal("0.00"), 0, 0)
