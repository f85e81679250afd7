"""Through the API: what is approved and priced is exactly what runs (the plan pinned at
submission); the approve request keeps to its query baseline."""

import pytest

from catalog.models import CatalogItem, Order, plan_digest
from catalog.tasks import admit_order
from catalog.tests.helpers import approve_as_bob, client_as
from catalog.tests.saga import run_queued
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_editing_the_item_after_submit_changes_nothing_that_is_deployed(world, api_as):
    alice = api_as(world["alice"])
    order = Order.objects.get(pk=order_via_api(alice, world, admit=False).data["id"])
    pinned, digest = order.plan, order.plan_digest
    assert digest == plan_digest(pinned)
    assert pinned["resources"][0]["properties"]["size"] == "small"
    assert pinned["monthly_cost"] == str(order.estimated_monthly_cost)

    # An admin edits the item between submit and approval: a bigger size, another image, and
    # a second server.
    item = CatalogItem.objects.get(slug="linux-vm")
    edited = [
        {**spec, "properties": {**spec["properties"], "size": "large", "image": "ubuntu-24.04"}}
        for spec in item.resources
    ]
    item.resources = [*edited, {**edited[0], "key": "extra", "name": "{name}-extra"}]
    item.save()

    # Admission, the approver's page, the API and the deployment all read the pinned plan.
    admit_order(order.pk)
    order.refresh_from_db()
    approval = api_as(world["bob"]).get(f"/api/v1/approvals/{order.approval.pk}/").json()
    assert approval["order"]["plan"] == pinned and approval["order"]["plan_digest"] == digest
    page = client_as(world["bob"]).get(f"/approvals/{order.approval.pk}/").content.decode()
    assert "size small" in page and "size large" not in page
    assert f"at {pinned['monthly_cost']} USD / month" in page
    assert alice.get(f"/api/v1/orders/{order.pk}/").json()["plan"] == pinned

    approve_as_bob(api_as, world, order)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed" and order.plan_digest == digest
    deployed = [
        (r.name, r.properties["size"], r.properties["image"]) for r in order.resources.all()
    ]
    expected = [
        (spec["name"], spec["properties"]["size"], spec["properties"]["image"])
        for spec in pinned["resources"]
    ]
    assert deployed == expected


def test_the_approve_request_keeps_to_its_query_baseline(world, api_as, query_baseline):
    """approvals.approve (bench/approve.py measures the same request, with its token lookup: one
    more; 45 when the deployment was planned inside it, 15 when the answer re-read the chain of
    stages)."""
    bob = api_as(world["bob"])
    orders = [
        Order.objects.get(pk=order_via_api(api_as(world["alice"]), world, name=f"q-{i}").data["id"])
        for i in range(2)
    ]
    first, second = (order.approval.pk for order in orders)
    bob.post(f"/api/v1/approvals/{first}/approve/", {})  # warm-up
    with query_baseline("approvals.approve"):
        answer = bob.post(f"/api/v1/approvals/{second}/approve/", {})
    assert answer.status_code == 200
