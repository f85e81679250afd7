"""An order's costs as billing reads them: the lifecycle events of an ordered, provisioned and
stopped server are metered at the order's quote."""

from decimal import Decimal

import pytest

from approvals.services.deciding import approval_decide
from billing.pricing import HOURS_PER_MONTH
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period
from billing.services.metering import meter_range
from billing.tests.helpers import MEDIUM_HOURLY, T0, at, usage_of
from catalog.orders import order_admit, order_deploy
from catalog.services import order_submit
from provisioning.models import Resource, Step
from provisioning.services.day2 import resource_action_request
from provisioning.services.saga import step_execute

pytestmark = pytest.mark.django_db


def test_end_to_end_an_order_is_metered_at_its_quote(world):
    """Order → approve → provision → stop: the real lifecycle events are metered, and a full
    running hour costs the order's quote / 730."""

    def run_steps():
        while step := Step.objects.filter(state="pending").order_by("id").first():
            step_execute(step_id=step.pk)

    order = order_submit(
        user=world["alice"],
        item=world["linux_vm"],
        project=world["web_shop"],
        parameters={"name": "vm-1", "size": "medium"},
    )
    order_admit(order_id=order.pk)
    approval_decide(user=world["bob"], approval_id=order.approval.pk, approve=True)
    order_deploy(order_id=order.pk)  # as the worker would
    run_steps()
    server = Resource.objects.get(order=order, kind="server")
    resource_action_request(user=world["alice"], resource_id=server.pk, action="stop")
    run_steps()
    kinds = list(server.events.values_list("kind", flat=True))
    assert kinds == ["created", "stopped"]
    # As if it had all happened in October: created at 10:30, stopped at 12:00.
    server.events.filter(kind="created").update(at=at(0.5))
    server.events.filter(kind="stopped").update(at=at(2))
    meter_range(start=T0, end=at(4))
    assert usage_of(server)[at(1)] * HOURS_PER_MONTH == order.estimated_monthly_cost
    assert set(usage_of(server)) == {at(0), at(1)}  # stopped, no storage rate: no charge
    report = chargeback_report(
        user=world["alice"], period=month_period(T0.date()), group_by="catalog_item"
    )
    assert [(row.label, row.cost) for row in report.rows] == [
        (world["linux_vm"].name, Decimal("1.5") * MEDIUM_HOURLY)  # half an hour, an hour
    ]
