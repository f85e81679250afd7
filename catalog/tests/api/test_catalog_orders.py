"""Ordering from the catalog through the API: the chosen cloud account's options (sizes, images,
locations) re-checked on the server, entitlements, the quote, cancelling."""

import pytest
from django.utils.html import escape
from rest_framework.test import APIClient

import provisioning.selectors as provisioning_selectors
from catalog.models import CatalogItem, Order
from catalog.tests.helpers import client_as
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def _slugs(client: APIClient) -> list[str]:
    return [item["slug"] for item in client.get("/api/v1/catalog/items/").json()["results"]]


# --- dependent options ----------------------------------------------------------------------


def test_every_choice_is_rechecked_against_the_chosen_account(world, api_as, other_account):
    alice = api_as(world["alice"])
    answer = order_via_api(
        alice,
        world,
        cloud_account=other_account.pk,
        size="small",
        image="ubuntu-24.04",
        location="sandbox-1a",
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "size": ["Choose one of: xlarge."],
        "image": ["Choose one of: debian-12, rocky-9."],
        "location": ["Choose one of: eu-west."],
    }
    assert not Order.objects.exists()

    ok = order_via_api(alice, world, cloud_account=other_account.pk, size="xlarge")
    assert ok.status_code == 201, ok.content
    order = Order.objects.get()
    assert order.cloud_account == other_account and ok.json()["cloud_account"] == other_account.pk
    # Omitted optional choices are filled with the account's default/first option.
    assert order.parameters == {
        "name": "web-1",
        "size": "xlarge",
        "image": "debian-12",
        "location": "eu-west",
    }


def test_an_account_not_serving_the_project_or_lacking_a_kind_is_refused(
    world, api_as, other_account, foreign_account, monkeypatch
):
    alice = api_as(world["alice"])
    answer = order_via_api(alice, world, cloud_account=foreign_account.pk)
    assert answer.status_code == 400
    assert answer.json()["cloud_account"][0].startswith("Choose one of: ")

    real = provisioning_selectors.account_supports
    monkeypatch.setattr(
        provisioning_selectors,
        "account_supports",
        lambda *, account, kinds: (
            real(account=account, kinds=kinds)
            and not (account.name == "other" and "load_balancer" in kinds)
        ),
    )
    web_tier = {
        "item": "web-tier",
        "project": world["web_shop"].pk,
        "parameters": {"name": "shop", "size": "small", "instances": 2},
    }
    refused = alice.post(
        "/api/v1/orders/quote/",
        {**web_tier, "parameters": {**web_tier["parameters"], "cloud_account": other_account.pk}},
        format="json",
    )
    assert refused.status_code == 400 and "cloud_account" in refused.json()
    assert (
        order_via_api(alice, world, cloud_account=other_account.pk, size="xlarge").status_code
        == 201
    )


def test_the_options_api_refuses_a_project_or_account_not_offered(
    world, api_as, other_account, foreign_account
):
    alice = api_as(world["alice"])
    url = "/api/v1/catalog/items/linux-vm/options/"
    assert alice.get(url).json()["cloud_account"] != other_account.pk  # the first by default
    for field, chosen in (("project", 0), ("cloud_account", foreign_account.pk)):
        answer = alice.get(url, {field: chosen})
        assert answer.status_code == 400
        assert list(answer.json()) == [field]
        assert answer.json()[field][0].startswith("Choose one of: ")


# --- entitlements ---------------------------------------------------------------------------


def test_an_item_entitled_to_one_project_is_invisible_and_unorderable_elsewhere(world, api_as):
    # autoscaling-web-tier is entitled to acme/web-shop in the default catalog.
    alice, dave = api_as(world["alice"]), api_as(world["dave"])
    assert "autoscaling-web-tier" in _slugs(alice)
    assert "autoscaling-web-tier" not in _slugs(dave) and "web-tier" in _slugs(dave)
    assert dave.get("/api/v1/catalog/items/autoscaling-web-tier/").status_code == 404
    dave_html = client_as(world["dave"])
    assert b"Autoscaling web tier" not in dave_html.get("/").content
    assert b"Autoscaling web tier" in client_as(world["alice"]).get("/").content
    assert dave_html.get("/catalog/autoscaling-web-tier/").status_code == 404
    answer = dave.post(
        "/api/v1/orders/",
        {
            "item": "autoscaling-web-tier",
            "project": world["data_lab"].pk,
            "parameters": {"name": "lab", "size": "small", "instances": 1},
        },
        format="json",
    )
    assert answer.status_code == 403
    assert not Order.objects.exists()


def test_an_item_entitled_to_an_organization(world, api_as):
    item = CatalogItem.objects.get(slug="windows-vm")
    other = type(world["web_shop"].organization).objects.create(name="Globex", slug="globex")
    item.organizations.set([other])
    assert "windows-vm" not in [
        i["slug"] for i in api_as(world["dave"]).get("/api/v1/catalog/items/").json()["results"]
    ]
    item.organizations.add(world["web_shop"].organization)
    assert api_as(world["dave"]).get("/api/v1/catalog/items/windows-vm/").status_code == 200


# --- quote and cancel -----------------------------------------------------------------------


def test_quote_answers_price_and_quota_without_ordering(world, api_as):
    alice = api_as(world["alice"])
    body = {
        "item": "web-tier",
        "project": world["web_shop"].pk,
        "parameters": {"name": "shop", "size": "medium", "instances": 3},
    }
    quote = alice.post("/api/v1/orders/quote/", body, format="json")
    assert quote.status_code == 200, quote.content
    assert set(quote.json()) == {"cloud_account", "estimated_monthly_cost", "quota"}
    assert isinstance(quote.json()["quota"], list)
    # The form's live estimate says the same as the API.
    estimate = (
        client_as(world["alice"])
        .post(
            "/catalog/web-tier/estimate/",
            {"project": world["web_shop"].pk, **body["parameters"], "location": "sandbox-1a"},
        )
        .content.decode()
    )
    assert f"Estimated monthly cost: {quote.json()['estimated_monthly_cost']} USD" in estimate
    assert all(escape(message) in estimate for message in quote.json()["quota"])
    order = alice.post("/api/v1/orders/", body, format="json")
    assert order.status_code == 201, order.content
    assert order.json()["estimated_monthly_cost"] == quote.json()["estimated_monthly_cost"]
    # More servers cost more: the count reaches the price.
    # The ordered name is now held by a pending order: quoting it again says so.
    again = alice.post("/api/v1/orders/quote/", body, format="json")
    assert again.status_code == 400 and "pending order" in again.json()["name"][0]
    bigger = alice.post(
        "/api/v1/orders/quote/",
        {**body, "parameters": {**body["parameters"], "name": "shop-2", "instances": 6}},
        format="json",
    )
    assert float(bigger.json()["estimated_monthly_cost"]) > float(
        quote.json()["estimated_monthly_cost"]
    )

    bad = alice.post(
        "/api/v1/orders/quote/",
        {**body, "parameters": {"name": "Bad!", "size": "huge", "instances": 99}},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()) == {"name", "size", "instances"}
    assert Order.objects.count() == 1


def test_the_requester_cancels_an_order_not_yet_provisioning(world, api_as):
    alice, bob = api_as(world["alice"]), api_as(world["bob"])
    order_id = order_via_api(alice, world).json()["id"]
    page = client_as(world["alice"]).get(f"/orders/{order_id}/").content
    assert b'data-testid="cancel-order"' in page
    assert bob.post(f"/api/v1/orders/{order_id}/cancel/").status_code == 403
    answer = alice.post(f"/api/v1/orders/{order_id}/cancel/")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert bob.get("/api/v1/approvals/?status=pending").json()["count"] == 0
    again = alice.post(f"/api/v1/orders/{order_id}/cancel/")
    assert again.status_code == 400 and "cancelled" in again.json()["status"][0]
    assert (
        b'data-testid="cancel-order"'
        not in client_as(world["alice"]).get(f"/orders/{order_id}/").content
    )

    html_order = order_via_api(alice, world, name="web-2").json()["id"]
    response = client_as(world["alice"]).post(f"/orders/{html_order}/cancel/", follow=True)
    assert b'data-testid="order-status">cancelled<' in response.content
