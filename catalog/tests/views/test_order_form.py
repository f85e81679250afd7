"""The order form: the cloud account's options narrow the choices (and are re-checked when
submitted), the fields follow the item's schema types, a submitted order's page polls until
it is admitted."""

import pytest

from catalog.forms import OrderForm
from catalog.models import CatalogItem, Order
from catalog.tasks import admit_order
from catalog.tests.helpers import OTHER_OPTIONS, client_as

pytestmark = pytest.mark.django_db


def test_choosing_an_account_narrows_sizes_images_and_locations(world, api_as, other_account):
    alice = client_as(world["alice"])
    form = alice.get("/catalog/linux-vm/").content.decode()
    assert 'name="cloud_account"' in form and 'hx-post="/catalog/linux-vm/fields/"' in form
    assert 'value="small"' in form and 'value="xlarge"' not in form  # the first account's

    fields = alice.post(
        "/catalog/linux-vm/fields/",
        {"project": world["web_shop"].pk, "cloud_account": other_account.pk, "size": "small"},
    ).content.decode()
    assert 'value="xlarge"' in fields and 'value="small"' not in fields
    assert 'value="eu-west"' in fields and 'value="sandbox-1a"' not in fields
    assert 'value="rocky-9"' in fields and 'value="windows-2022"' not in fields
    assert 'id="estimate"' in fields and 'hx-swap-oob="true"' in fields
    assert "errors" not in fields  # nothing is reported before the person submits

    options = (
        api_as(world["alice"])
        .get(f"/api/v1/catalog/items/linux-vm/options/?cloud_account={other_account.pk}")
        .json()
    )
    assert options["cloud_account"] == other_account.pk
    assert [a["name"] for a in options["cloud_accounts"]] == ["sandbox", "other"]
    assert options["parameters"]["size"] == [
        {"id": "xlarge", "label": OTHER_OPTIONS["sizes"][0].label}
    ]


def test_the_html_form_refuses_a_choice_of_another_account(world, other_account):
    response = client_as(world["alice"]).post(
        "/catalog/linux-vm/",
        {
            "project": world["web_shop"].pk,
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


def test_the_html_form_falls_back_to_the_first_account_until_submitted(
    world, other_account, foreign_account
):
    alice = client_as(world["alice"])
    # The project changed and the account chosen before does not serve it: the first one's
    # options are offered, and nothing is reported before the person submits.
    fields = alice.post(
        "/catalog/linux-vm/fields/",
        {"project": world["web_shop"].pk, "cloud_account": foreign_account.pk},
    ).content.decode()
    assert 'value="small"' in fields and 'value="xlarge"' not in fields
    assert "errors" not in fields
    submitted = alice.post(
        "/catalog/linux-vm/",
        {"project": world["web_shop"].pk, "cloud_account": foreign_account.pk, "name": "web-1"},
    )
    assert "cloud_account" in submitted.context["form"].errors
    assert not Order.objects.exists()


def test_the_form_follows_the_schema_types(world):
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
            "project": world["web_shop"].pk,
            "name": "vm-1",
            "size": "small",
            "tier": "2",
            "ratio": "0.75",
            "backup": "on",
        },
        item=item,
        user=world["alice"],
    )
    assert form.is_valid(), form.errors
    assert {k: form.parameters()[k] for k in ("tier", "ratio", "backup")} == {
        "tier": 2,
        "ratio": 0.75,
        "backup": True,
    }


@pytest.mark.django_db
def test_the_html_form_submits_and_the_page_polls_until_admitted(world, client):
    client.force_login(world["alice"])
    response = client.post(
        "/catalog/linux-vm/", {"name": "web-01", "size": "small", "project": world["web_shop"].pk}
    )
    order = Order.objects.get()
    assert response["Location"] == f"/orders/{order.pk}/"
    live = client.get(f"/orders/{order.pk}/live/").content
    assert b'data-testid="order-status">submitted<' in live and b"every 2s" in live
    admit_order(order.pk)
    live = client.get(f"/orders/{order.pk}/live/").content
    assert b'data-testid="order-status">pending approval<' in live
