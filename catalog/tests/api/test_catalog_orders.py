"""Ordering from the catalog: dependent options (cloud account → sizes, images, locations) and
their server-side re-check, entitlements, the quote, cancelling."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils.html import escape
from rest_framework.test import APIClient

import provisioning.selectors as provisioning_selectors
from billing.models import Rate, RateCard
from catalog.forms import OrderForm
from catalog.models import CatalogItem, Order
from catalog.selectors.menu import cloud_accounts_for_item
from catalog.selectors.ordering import chosen_or_first
from provisioning.models import CloudAccount
from provisioning.providers.base import Option, SizeInfo
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db

OTHER_OPTIONS = {
    "locations": [Option("eu-west", "EU west")],
    "sizes": [SizeInfo("xlarge", 8, 32)],
    "images": [Option("debian-12", "Debian 12"), Option("rocky-9", "Rocky Linux 9")],
}


@pytest.fixture
def other_account(demo, monkeypatch) -> CloudAccount:
    """A second account serving web-shop, whose cloud offers other sizes, images, locations."""
    account = CloudAccount.objects.create(
        name="other", organization=demo["web_shop"].organization, provider="sandbox"
    )
    account.projects.set([demo["web_shop"]])
    # Its own card prices its own size (an unpriced size is refused, not quoted 0).
    card = RateCard.objects.create(name="other prices", cloud_account=account)
    Rate.objects.create(rate_card=card, resource_kind="server", size="xlarge", price=Decimal("1"))
    real = provisioning_selectors.cloud_account_options

    def options(*, account: CloudAccount, **kwargs) -> dict:
        return OTHER_OPTIONS if account.name == "other" else real(account=account, **kwargs)

    monkeypatch.setattr(provisioning_selectors, "cloud_account_options", options)
    return account


@pytest.fixture
def foreign_account(demo) -> CloudAccount:
    """An account of web-shop's organization that serves data-lab only."""
    account = CloudAccount.objects.create(
        name="foreign", organization=demo["web_shop"].organization, provider="sandbox"
    )
    account.projects.set([demo["data_lab"]])
    return account


def _api(demo: dict, username: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(demo[username])
    return client


def _slugs(client: APIClient) -> list[str]:
    return [item["slug"] for item in client.get("/api/v1/catalog/items/").json()["results"]]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- dependent options ----------------------------------------------------------------------


def test_choosing_an_account_narrows_sizes_images_and_locations(demo, other_account):
    alice = _client(demo["alice"])
    form = alice.get("/catalog/linux-vm/").content.decode()
    assert 'name="cloud_account"' in form and 'hx-post="/catalog/linux-vm/fields/"' in form
    assert 'value="small"' in form and 'value="xlarge"' not in form  # the first account's

    fields = alice.post(
        "/catalog/linux-vm/fields/",
        {"project": demo["web_shop"].pk, "cloud_account": other_account.pk, "size": "small"},
    ).content.decode()
    assert 'value="xlarge"' in fields and 'value="small"' not in fields
    assert 'value="eu-west"' in fields and 'value="sandbox-1a"' not in fields
    assert 'value="rocky-9"' in fields and 'value="windows-2022"' not in fields
    assert 'id="estimate"' in fields and 'hx-swap-oob="true"' in fields
    assert "errors" not in fields  # nothing is reported before the person submits

    options = (
        _api(demo, "alice")
        .get(f"/api/v1/catalog/items/linux-vm/options/?cloud_account={other_account.pk}")
        .json()
    )
    assert options["cloud_account"] == other_account.pk
    assert [a["name"] for a in options["cloud_accounts"]] == ["sandbox", "other"]
    assert options["parameters"]["size"] == [
        {"id": "xlarge", "label": OTHER_OPTIONS["sizes"][0].label}
    ]


def test_every_choice_is_rechecked_against_the_chosen_account(demo, other_account):
    alice = _api(demo, "alice")
    answer = order_via_api(
        alice,
        demo,
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

    ok = order_via_api(alice, demo, cloud_account=other_account.pk, size="xlarge")
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


def test_the_html_form_refuses_a_choice_of_another_account(demo, other_account):
    response = _client(demo["alice"]).post(
        "/catalog/linux-vm/",
        {
            "project": demo["web_shop"].pk,
            "cloud_account": other_account.pk,
            "name": "web-1",
            "size": "small",
            "image": "debian-12",
            "location": "eu-west",
        },
    )
    assert response.status_code == 200
    assert "size" in response.context["form"].errors
    assert b'data-testid="error-size"' in response.content
    assert not Order.objects.exists()


def test_an_account_not_serving_the_project_or_lacking_a_kind_is_refused(
    demo, other_account, foreign_account, monkeypatch
):
    alice = _api(demo, "alice")
    answer = order_via_api(alice, demo, cloud_account=foreign_account.pk)
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
        "project": demo["web_shop"].pk,
        "parameters": {"name": "shop", "size": "small", "instances": 2},
    }
    refused = alice.post(
        "/api/v1/orders/quote/",
        {**web_tier, "parameters": {**web_tier["parameters"], "cloud_account": other_account.pk}},
        format="json",
    )
    assert refused.status_code == 400 and "cloud_account" in refused.json()
    assert (
        order_via_api(alice, demo, cloud_account=other_account.pk, size="xlarge").status_code == 201
    )


def test_a_project_or_account_is_the_chosen_one_or_else_the_first(demo, other_account):
    accounts = cloud_accounts_for_item(item=demo["linux_vm"], project=demo["web_shop"])
    first, second = accounts
    for nothing in (None, ""):
        assert chosen_or_first(accounts, chosen=nothing, field="cloud_account") == first
    for chosen in (second.pk, str(second.pk)):  # from a JSON body or a query string
        assert chosen_or_first(accounts, chosen=chosen, field="cloud_account") == second
    assert chosen_or_first([], chosen=None, field="cloud_account") is None
    with pytest.raises(ValidationError) as error:
        chosen_or_first(accounts, chosen="0", field="cloud_account")
    offered = f"{first.pk} ({first.name}), {second.pk} ({second.name})"
    assert error.value.message_dict == {"cloud_account": [f"Choose one of: {offered}."]}


def test_the_options_api_refuses_a_project_or_account_not_offered(
    demo, other_account, foreign_account
):
    alice = _api(demo, "alice")
    url = "/api/v1/catalog/items/linux-vm/options/"
    assert alice.get(url).json()["cloud_account"] != other_account.pk  # the first by default
    for field, chosen in (("project", 0), ("cloud_account", foreign_account.pk)):
        answer = alice.get(url, {field: chosen})
        assert answer.status_code == 400
        assert list(answer.json()) == [field]
        assert answer.json()[field][0].startswith("Choose one of: ")


def test_the_html_form_falls_back_to_the_first_account_until_submitted(
    demo, other_account, foreign_account
):
    alice = _client(demo["alice"])
    # The project changed and the account chosen before does not serve it: the first one's
    # options are offered, and nothing is reported before the person submits.
    fields = alice.post(
        "/catalog/linux-vm/fields/",
        {"project": demo["web_shop"].pk, "cloud_account": foreign_account.pk},
    ).content.decode()
    assert 'value="small"' in fields and 'value="xlarge"' not in fields
    assert "errors" not in fields
    submitted = alice.post(
        "/catalog/linux-vm/",
        {"project": demo["web_shop"].pk, "cloud_account": foreign_account.pk, "name": "web-1"},
    )
    assert "cloud_account" in submitted.context["form"].errors
    assert not Order.objects.exists()


# --- entitlements ---------------------------------------------------------------------------


def test_an_item_entitled_to_one_project_is_invisible_and_unorderable_elsewhere(demo):
    # autoscaling-web-tier is entitled to acme/web-shop in the default catalog.
    alice, dave = _api(demo, "alice"), _api(demo, "dave")
    assert "autoscaling-web-tier" in _slugs(alice)
    assert "autoscaling-web-tier" not in _slugs(dave) and "web-tier" in _slugs(dave)
    assert dave.get("/api/v1/catalog/items/autoscaling-web-tier/").status_code == 404
    dave_html = _client(demo["dave"])
    assert b"Autoscaling web tier" not in dave_html.get("/").content
    assert b"Autoscaling web tier" in _client(demo["alice"]).get("/").content
    assert dave_html.get("/catalog/autoscaling-web-tier/").status_code == 404
    answer = dave.post(
        "/api/v1/orders/",
        {
            "item": "autoscaling-web-tier",
            "project": demo["data_lab"].pk,
            "parameters": {"name": "lab", "size": "small", "instances": 1},
        },
        format="json",
    )
    assert answer.status_code == 403
    assert not Order.objects.exists()


def test_an_item_entitled_to_an_organization(demo):
    item = CatalogItem.objects.get(slug="windows-vm")
    other = type(demo["web_shop"].organization).objects.create(name="Globex", slug="globex")
    item.organizations.set([other])
    assert "windows-vm" not in [
        i["slug"] for i in _api(demo, "dave").get("/api/v1/catalog/items/").json()["results"]
    ]
    item.organizations.add(demo["web_shop"].organization)
    assert _api(demo, "dave").get("/api/v1/catalog/items/windows-vm/").status_code == 200


# --- quote and cancel -----------------------------------------------------------------------


def test_quote_answers_price_and_quota_without_ordering(demo):
    alice = _api(demo, "alice")
    body = {
        "item": "web-tier",
        "project": demo["web_shop"].pk,
        "parameters": {"name": "shop", "size": "medium", "instances": 3},
    }
    quote = alice.post("/api/v1/orders/quote/", body, format="json")
    assert quote.status_code == 200, quote.content
    assert set(quote.json()) == {"cloud_account", "estimated_monthly_cost", "quota"}
    assert isinstance(quote.json()["quota"], list)
    # The form's live estimate says the same as the API.
    estimate = (
        _client(demo["alice"])
        .post(
            "/catalog/web-tier/estimate/",
            {"project": demo["web_shop"].pk, **body["parameters"], "location": "sandbox-1a"},
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


def test_the_requester_cancels_an_order_not_yet_provisioning(demo):
    alice, bob = _api(demo, "alice"), _api(demo, "bob")
    order_id = order_via_api(alice, demo).json()["id"]
    page = _client(demo["alice"]).get(f"/orders/{order_id}/").content
    assert b'data-testid="cancel-order"' in page
    assert bob.post(f"/api/v1/orders/{order_id}/cancel/").status_code == 403
    answer = alice.post(f"/api/v1/orders/{order_id}/cancel/")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert bob.get("/api/v1/approvals/?status=pending").json()["count"] == 0
    again = alice.post(f"/api/v1/orders/{order_id}/cancel/")
    assert again.status_code == 400 and "cancelled" in again.json()["status"][0]
    assert (
        b'data-testid="cancel-order"'
        not in _client(demo["alice"]).get(f"/orders/{order_id}/").content
    )

    html_order = order_via_api(alice, demo, name="web-2").json()["id"]
    response = _client(demo["alice"]).post(f"/orders/{html_order}/cancel/", follow=True)
    assert b'data-testid="order-status">cancelled<' in response.content


def test_the_form_follows_the_schema_types(demo):
    item = CatalogItem.objects.get(slug="linux-vm")
    item.parameters["properties"].update(
        {
            "tier": {"type": "integer", "enum": [1, 2]},
            "ratio": {"type": "number", "minimum": 0.5},
            "backup": {"type": "boolean"},
        }
    )
    item.save()
    form = OrderForm(
        {
            "project": demo["web_shop"].pk,
            "name": "vm-1",
            "size": "small",
            "tier": "2",
            "ratio": "0.75",
            "backup": "on",
        },
        item=item,
        user=demo["alice"],
    )
    assert form.is_valid(), form.errors
    assert {k: form.parameters()[k] for k in ("tier", "ratio", "backup")} == {
        "tier": 2,
        "ratio": 0.75,
        "backup": True,
    }
