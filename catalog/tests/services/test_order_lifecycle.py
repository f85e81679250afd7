"""Deploying an approved order: approving records the decision while a worker plans the
deployment (once, or from the sweep when its message was lost); a size the account no longer
offers fails the order and leaves nothing."""

import time

import pytest
from django.core.cache import cache

from catalog.models import Order
from catalog.orders import DEPLOY_OVERDUE, order_deploy, orders_deploy_overdue
from catalog.tests.helpers import approve_as_bob
from provisioning.models import Deployment, Resource, SandboxObject
from provisioning.selectors import cloud_account_options, options_cache_key
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_a_size_the_account_no_longer_offers_fails_the_order_and_leaves_nothing(world, api_as):
    order = Order.objects.get(pk=order_via_api(api_as(world["alice"]), world).data["id"])
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
    approve_as_bob(api_as, world, order)
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


def test_approving_records_the_decision_and_a_worker_plans_the_deployment(world, api_as):
    order = Order.objects.get(pk=order_via_api(api_as(world["alice"]), world).data["id"])
    answer = approve_as_bob(api_as, world, order)
    assert answer.json()["status"] == "approved"
    order.refresh_from_db()
    assert order.status == "approved" and not order.deployments.exists()

    deployment = order_deploy(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == "provisioning" and deployment.order_id == order.pk
    assert order_deploy(order_id=order.pk) is None  # a second delivery changes nothing
    assert order.deployments.count() == 1


def test_the_workers_sweep_starts_an_approved_order_whose_deploy_message_was_lost(world, api_as):
    order = Order.objects.get(pk=order_via_api(api_as(world["alice"]), world).data["id"])
    approve_as_bob(api_as, world, order)
    order.refresh_from_db()
    assert orders_deploy_overdue() == 0  # not overdue yet: its message may still come
    assert orders_deploy_overdue(now=order.updated_at + DEPLOY_OVERDUE * 2) == 1
    order.refresh_from_db()
    assert order.status == "provisioning"
