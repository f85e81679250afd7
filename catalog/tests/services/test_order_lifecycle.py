"""Pinned plans and the order's one owner: what is approved and priced is exactly what runs, and
approving records the decision while a worker plans the deployment."""

import time

import pytest
from django.core.cache import cache
from django.test import Client

from catalog.models import CatalogItem, Order, plan_digest
from catalog.orders import DEPLOY_OVERDUE, order_deploy, orders_deploy_overdue
from catalog.tasks import admit_order
from provisioning.models import Deployment, Resource, SandboxObject
from provisioning.selectors import cloud_account_options, options_cache_key
from tests.fixtures import order_via_api
from tests.saga import run_queued

pytestmark = pytest.mark.django_db


def _approve(api_as, demo, order: Order):
    answer = api_as(demo["bob"]).post(f"/api/v1/approvals/{order.approval.pk}/approve/", {})
    assert answer.status_code == 200, answer.content
    return answer


def test_editing_the_item_after_submit_changes_nothing_that_is_deployed(demo, api_as):
    alice = api_as(demo["alice"])
    order = Order.objects.get(pk=order_via_api(alice, demo, admit=False).data["id"])
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
    approval = api_as(demo["bob"]).get(f"/api/v1/approvals/{order.approval.pk}/").json()
    assert approval["order"]["plan"] == pinned and approval["order"]["plan_digest"] == digest
    page = _client(demo["bob"]).get(f"/approvals/{order.approval.pk}/").content.decode()
    assert "size small" in page and "size large" not in page
    assert f"at {pinned['monthly_cost']} USD / month" in page
    assert alice.get(f"/api/v1/orders/{order.pk}/").json()["plan"] == pinned

    _approve(api_as, demo, order)
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


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_size_the_account_no_longer_offers_fails_the_order_and_leaves_nothing(demo, api_as):
    order = Order.objects.get(pk=order_via_api(api_as(demo["alice"]), demo).data["id"])
    account = order.cloud_account
    offered = cloud_account_options(account=account)
    # The provider dropped the size since the order was submitted (its options as fetched).
    cache.set(
        options_cache_key(account.pk),
        {
            **offered,
            "sizes": [size for size in offered["sizes"] if size.id != "small"],
            "fetched_at": time.time(),
        },
        timeout=None,
    )
    _approve(api_as, demo, order)
    assert order_deploy(order_id=order.pk) is None
    order.refresh_from_db()
    assert order.status == "failed"
    assert order.status_message == (
        f"The cloud account {account.name} no longer offers the size small planned for web-1."
    )
    assert not Deployment.objects.filter(order=order).exists()
    assert not Resource.objects.filter(order=order).exists()
    assert not SandboxObject.objects.exists()
    assert order.quota_entries.filter(status="reserved").count() == 0  # released


def test_approving_records_the_decision_and_a_worker_plans_the_deployment(demo, api_as):
    order = Order.objects.get(pk=order_via_api(api_as(demo["alice"]), demo).data["id"])
    answer = _approve(api_as, demo, order)
    assert answer.json()["status"] == "approved"
    order.refresh_from_db()
    assert order.status == "approved" and not order.deployments.exists()

    deployment = order_deploy(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == "provisioning" and deployment.order_id == order.pk
    assert order_deploy(order_id=order.pk) is None  # a second delivery changes nothing
    assert order.deployments.count() == 1


def test_the_workers_sweep_starts_an_approved_order_whose_deploy_message_was_lost(demo, api_as):
    order = Order.objects.get(pk=order_via_api(api_as(demo["alice"]), demo).data["id"])
    _approve(api_as, demo, order)
    order.refresh_from_db()
    assert orders_deploy_overdue() == 0  # not overdue yet: its message may still come
    assert orders_deploy_overdue(now=order.updated_at + DEPLOY_OVERDUE * 2) == 1
    order.refresh_from_db()
    assert order.status == "provisioning"


def test_the_approve_request_keeps_to_its_query_baseline(demo, api_as, query_baseline):
    """approvals.approve (bench/approve.py measures the same request, with its token lookup: one
    more; 45 when the deployment was planned inside it, 15 when the answer re-read the chain of
    stages)."""
    bob = api_as(demo["bob"])
    orders = [
        Order.objects.get(pk=order_via_api(api_as(demo["alice"]), demo, name=f"q-{i}").data["id"])
        for i in range(2)
    ]
    first, second = (order.approval.pk for order in orders)
    bob.post(f"/api/v1/approvals/{first}/approve/", {})  # warm-up
    with query_baseline("approvals.approve"):
        answer = bob.post(f"/api/v1/approvals/{second}/approve/", {})
    assert answer.status_code == 200
