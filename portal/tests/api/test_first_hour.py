"""The first hour of every persona (issue 16) through the API: links from the configured base
URL, a bad value or a taken name told the rule (the order form says the same), quotes priced
from what was entered."""

from decimal import Decimal

import pytest
from django.core import mail
from django.test import override_settings

from catalog.models import Order
from catalog.orders import order_cancel
from portal.tests.helpers import browser, provisioned
from provisioning.models import Resource
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


@override_settings(CANOPY_BASE_URL="http://portal.example:8765")
def test_approval_email_links_start_with_the_base_url(
    demo, api_as, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order_via_api(api_as(demo["alice"]), demo)
    (email,) = [m for m in mail.outbox if m.to == [demo["bob"].email]]
    links = [line.split()[-1] for line in email.body.splitlines() if "/approvals/" in line]
    assert links and all(link.startswith("http://portal.example:8765/") for link in links)


@pytest.mark.parametrize(
    ("slug", "field", "value", "rule"),
    [
        ("linux-vm", "name", "Web 1", "lower-case letters, digits and hyphens"),
        ("linux-vm", "name", "a" * 80, "starting with a letter, 2\N{EN DASH}31 characters"),
        ("private-network", "cidr", "192.168.0.0/24", "a private range in 10.0.0.0/8"),
        ("dns-record", "zone", "Example", "a DNS zone such as apps.example.com"),
    ],
)
def test_a_bad_value_is_told_the_rule_in_the_form_and_the_api(
    demo, api_as, slug, field, value, rule
):
    base = {"linux-vm": {"name": "web-1", "size": "small"}}.get(slug, {})
    if slug == "private-network":
        base = {"name": "net-1", "cidr": "10.10.0.0/24"}
    if slug == "dns-record":
        base = {"name": "web-1", "size": "small", "record": "www"}
    answer = api_as(demo["alice"]).post(
        "/api/v1/orders/",
        {"item": slug, "project": demo["web_shop"].pk, "parameters": {**base, field: value}},
        format="json",
    )
    assert answer.status_code == 400
    assert rule in str(answer.json()), answer.json()
    page = browser(demo["alice"]).post(
        f"/catalog/{slug}/", {"project": demo["web_shop"].pk, **base, field: value}
    )
    assert rule in page.content.decode()
    assert "Enter a valid value" not in page.content.decode()


def test_a_name_the_project_uses_is_refused_by_name(demo, api_as):
    provisioned(demo, name="web-1")
    answer = order_via_api(api_as(demo["alice"]), demo, admit=False, name="web-1")
    assert answer.status_code == 400
    assert "web-1" in str(answer.json()["name"])
    page = browser(demo["alice"]).post(
        "/catalog/linux-vm/", {"project": demo["web_shop"].pk, "name": "web-1", "size": "small"}
    )
    assert 'data-testid="error-name"' in page.content.decode()
    assert not Order.objects.filter(status="submitted").exists()
    # Another project may use the name; so may the same project once the server is deleted.
    assert order_via_api(api_as(demo["alice"]), demo, admit=False, name="web-2").status_code == 201


def test_a_name_a_pending_order_will_use_is_refused_with_the_rule(demo, api_as):
    first = order_via_api(api_as(demo["alice"]), demo, name="web-7")
    assert Order.objects.get(pk=first.data["id"]).status == "pending_approval"
    answer = order_via_api(api_as(demo["alice"]), demo, admit=False, name="web-7")
    assert answer.status_code == 400
    (message,) = answer.json()["name"]
    assert "unique per project and kind" in message and "web-7" in message, message
    page = browser(demo["alice"]).post(
        "/catalog/linux-vm/", {"project": demo["web_shop"].pk, "name": "web-7", "size": "small"}
    )
    assert "unique per project and kind" in page.content.decode()
    # Once the pending order is cancelled, its names are free again.
    order_cancel(user=demo["alice"], order_id=first.data["id"])
    assert order_via_api(api_as(demo["alice"]), demo, admit=False, name="web-7").status_code == 201


def test_cost_is_priced_from_what_was_entered(demo, api_as):
    """The API quote and the form's estimate price the instances entered, not the default."""
    body = {"name": "shop", "size": "small"}
    quotes = [
        api_as(demo["alice"])
        .post(
            "/api/v1/orders/quote/",
            {
                "item": "web-tier",
                "project": demo["web_shop"].pk,
                "parameters": body | {"instances": n},
            },
            format="json",
        )
        .json()["estimated_monthly_cost"]
        for n in (1, 2)
    ]
    assert Decimal(quotes[1]) > Decimal(quotes[0])


def test_desired_zero_is_told_the_group_bounds(demo, api_as):
    order = provisioned(demo, "autoscaling-web-tier", name="tier", instances=2)
    group = Resource.objects.get(order=order, kind="autoscaling_group")
    answer = api_as(demo["alice"]).post(
        f"/api/v1/resources/{group.pk}/actions/",
        {"action": "set_desired", "desired": 0},
        format="json",
    )
    assert answer.status_code == 400
    assert "between 1 and 6" in str(answer.json()), answer.json()
    page = browser(demo["alice"]).post(
        f"/orders/changes/resources/{group.pk}/",
        {"action": "set_desired", "desired": "0"},
        follow=True,
    )
    assert "between 1 and 6" in page.content.decode()
    assert "already has" not in page.content.decode()
