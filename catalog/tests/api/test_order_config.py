"""The order request's cached configuration (catalog.order_config) follows every change at once;
its pre-check screen (approvals.selectors.admission._admission_screen) refuses exactly what the
full checks refuse."""

import math
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.cache import cache

import provisioning.selectors as provisioning_selectors
from approvals.models import Quota
from billing.models import Budget, Rate
from billing.pricing import monthly_quote
from catalog import order_config
from catalog.models import CatalogItem, Order
from catalog.selectors.menu import resolve_resources
from provisioning.models import CloudAccount
from tests.fixtures import order_via_api


@pytest.fixture
def alice(world, api_as):
    client = api_as(world["alice"])
    assert order_via_api(client, world, admit=False).status_code == 201  # the cache is warm
    return client


@pytest.mark.django_db
def test_a_deactivated_item_is_refused_at_once(world, alice):
    item = world["linux_vm"]
    item.is_active = False
    item.save()
    assert order_via_api(alice, world, admit=False, name="web-2").status_code == 404


@pytest.mark.django_db
def test_a_withdrawn_entitlement_is_refused_at_once(world, alice):
    world["linux_vm"].projects.set([world["data_lab"]])
    answer = order_via_api(alice, world, admit=False, name="web-2")
    assert answer.status_code == 403
    world["linux_vm"].projects.clear()
    assert order_via_api(alice, world, admit=False, name="web-3").status_code == 201


@pytest.mark.django_db
def test_a_new_price_is_quoted_at_once(world, alice):
    rate = Rate.objects.get(resource_kind="server", size="large")
    rate.price *= 2
    rate.save()
    answer = order_via_api(alice, world, admit=False, name="web-2", size="large")
    order = Order.objects.get(pk=answer.data["id"])
    resources = resolve_resources(item=order.item, parameters=order.parameters)
    fresh = monthly_quote(cloud_account_id=order.cloud_account_id, resources=resources)
    assert order.estimated_monthly_cost == fresh


@pytest.mark.django_db
def test_a_newly_linked_cloud_account_is_offered_at_once(world, alice):
    other = CloudAccount.objects.create(
        name="sandbox-2", organization=world["sandbox"].organization, provider="sandbox"
    )
    refused = order_via_api(alice, world, admit=False, name="web-2", cloud_account=other.pk)
    assert refused.status_code == 400 and "cloud_account" in refused.json()
    other.projects.add(world["web_shop"])
    answer = order_via_api(alice, world, admit=False, name="web-3", cloud_account=other.pk)
    assert answer.status_code == 201, answer.content
    assert Order.objects.get(pk=answer.data["id"]).cloud_account == other


@pytest.fixture
def clock(monkeypatch):
    """order_config's clock, moved by hand: `clock.now += seconds`. Its last read of the
    generation is forgotten (and restored afterwards, with the real clock), so the next
    request reads it: ask for this fixture before the warm-up order (`alice`)."""
    clock = SimpleNamespace(now=time.monotonic())
    monkeypatch.setattr(order_config, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(order_config, "_checked_at", -math.inf)
    return clock


@pytest.mark.django_db
def test_another_process_s_change_is_seen_through_the_generation(world, clock, alice):
    # A write elsewhere: no signal in this process, only the shared generation changes.
    CatalogItem.objects.filter(pk=world["linux_vm"].pk).update(is_active=False)
    assert order_via_api(alice, world, admit=False, name="web-2").status_code == 201  # cached
    cache.set(order_config.GENERATION_KEY, "written-by-another-process", None)
    assert order_via_api(alice, world, admit=False, name="web-3").status_code == 201  # not read yet
    clock.now += order_config.CHECK_INTERVAL
    assert order_via_api(alice, world, admit=False, name="web-4").status_code == 404


@pytest.mark.django_db
def test_a_write_without_signal_is_seen_after_the_ttl(world, alice, monkeypatch):
    CatalogItem.objects.filter(pk=world["linux_vm"].pk).update(is_active=False)
    monkeypatch.setattr(order_config, "TTL", 0.0)
    assert order_via_api(alice, world, admit=False, name="web-2").status_code == 404


@pytest.mark.django_db
def test_order_requests_read_the_cache_once_per_interval(world, clock, alice, monkeypatch):
    """The generation and the account's options come in one round trip (the warm-up order
    read the same account's options), and not again within CHECK_INTERVAL."""
    clock.now += order_config.CHECK_INTERVAL
    calls, depth = [], [0]

    def recorded(name: str, real):
        def call(*args, **kwargs):
            # The file cache's get_many calls its own get: one call. The API's throttle keeps
            # its own counter in the cache; that is not the order configuration's reading.
            if not depth[0] and not str(args[0]).startswith("throttle_"):
                calls.append((name, args[0]))
            depth[0] += 1
            try:
                return real(*args, **kwargs)
            finally:
                depth[0] -= 1

        return call

    for name in ("get", "get_many", "set", "add", "delete", "has_key"):
        monkeypatch.setattr(order_config.cache, name, recorded(name, getattr(cache, name)))
    assert order_via_api(alice, world, admit=False, name="web-2").status_code == 201
    (account,) = {order.cloud_account for order in Order.objects.all()}
    options_key = provisioning_selectors.options_cache_key(account.pk)
    assert calls == [("get_many", [order_config.GENERATION_KEY, options_key])]
    clock.now += order_config.CHECK_INTERVAL / 2
    assert order_via_api(alice, world, admit=False, name="web-3").status_code == 201
    assert len(calls) == 1


@pytest.mark.django_db
def test_an_organization_quota_is_screened_with_every_project_s_orders(world, alice, api_as):
    Quota.objects.create(organization=world["web_shop"].organization, max_servers=1)
    dave = api_as(world["dave"])  # data-lab, the same organization
    data_lab = {**world, "web_shop": world["data_lab"]}
    assert order_via_api(dave, data_lab, name="lab-1").status_code == 201  # admitted: 1 of 1
    refused = order_via_api(alice, world, admit=False, name="web-2")
    assert refused.status_code == 400
    assert refused.json() == {
        "quota": ["Over the server quota of Acme: this needs 1, 1 of 1 are already taken."]
    }


@pytest.mark.django_db
def test_a_refusing_budget_of_another_cost_center_lets_the_order_through(world, alice):
    # The screen sees a refusing budget in the organization; billing's rule says it is not
    # web-shop's, so the order is accepted.
    Budget.objects.filter(cost_center="CC-200").update(
        monthly_amount=Decimal("0.01"), refuse_orders_over_budget=True
    )
    assert order_via_api(alice, world, admit=False, name="web-2").status_code == 201
