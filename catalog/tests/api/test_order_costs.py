"""An order's costs in the chargeback API: an order a real worker provisioned shows in month to
date at once."""

from decimal import Decimal

import pytest

from catalog.models import Order, OrderStatus
from tests.fixtures import wait_until

pytestmark = pytest.mark.django_db


def test_a_completed_order_shows_in_month_to_date_at_once(world, api_as, celery_worker_process):
    """dave's self-service order, provisioned by a real worker: once it completes, carol's
    month to date names it (the accrual is read at report time, not at the next metering)."""
    answer = api_as(world["dave"]).post(
        "/api/v1/orders/",
        {
            "item": "linux-vm",
            "project": world["data_lab"].pk,
            "parameters": {"name": "mtd-1", "size": "small"},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.data
    order = Order.objects.get(pk=answer.data["id"])
    wait_until(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED,
        timeout=60,
        what="the order to complete",
    )
    client = api_as(world["carol"])

    def listed() -> bool:
        rows = client.get(f"/api/v1/chargeback/?group_by=resource&project={world['data_lab'].pk}")
        return any(
            row["label"] == "mtd-1" and row["run_rate"] != "0.00" for row in rows.data["rows"]
        )

    wait_until(listed, timeout=60, what="the order in carol's month to date")
    report = client.get("/api/v1/chargeback/").data
    assert report["includes_now"] is True
    assert Decimal(report["run_rate"]) == Order.objects.get(pk=order.pk).estimated_monthly_cost
