"""The pages from order to approval: menu, order form, order page, approvals, resource pages
and object visibility."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from approvals.models import ApprovalRequest
from catalog.models import Order
from catalog.orders import order_deploy
from catalog.tasks import admit_order
from core.models import Project
from portal.tests.helpers import browser


@pytest.fixture
def users(db) -> dict[str, User]:
    call_command("seed_demo", stdout=io.StringIO())
    return {user.username: user for user in User.objects.all()}


def order_as_alice(users, name: str = "web-01") -> Order:
    response = browser(users["alice"]).post(
        "/catalog/linux-vm/",
        {"name": name, "size": "small", "project": Project.objects.get(slug="web-shop").pk},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    order = Order.objects.get(parameters__name=name)
    admit_order(order.pk)  # as the worker would
    return order


def test_pages_require_login(users):
    for url in ["/", "/orders/", "/approvals/", "/resources/", "/catalog/linux-vm/"]:
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_alice_orders_a_linux_vm(users):
    alice = browser(users["alice"])
    menu = alice.get("/")
    assert menu.status_code == 200
    assert b"Linux VM" in menu.content and b'href="/catalog/linux-vm/"' in menu.content

    form = alice.get("/catalog/linux-vm/")
    assert form.status_code == 200
    assert b'name="name"' in form.content and b'name="size"' in form.content
    assert b'hx-post="/catalog/linux-vm/estimate/"' in form.content

    web_shop = Project.objects.get(slug="web-shop")
    estimate = alice.post(
        "/catalog/linux-vm/estimate/", {"name": "web-01", "size": "small", "project": web_shop.pk}
    )
    assert "Estimated monthly cost: 14.60 USD" in estimate.content.decode()

    response = alice.post(
        "/catalog/linux-vm/", {"name": "web-01", "size": "small", "project": web_shop.pk}
    )
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/orders/{order.pk}/"
    page = alice.get(response["Location"])
    assert page.status_code == 200
    assert b'data-testid="order-status">submitted<' in page.content
    assert b'hx-trigger="every 2s"' in page.content  # polls until admission has run
    assert b"order submitted" in page.content  # the audit trail, in words
    admit_order(order.pk)  # as the worker would
    live = alice.get(f"/orders/{order.pk}/live/")
    assert b'data-testid="order-status">pending approval<' in live.content
    assert b"web-01" in alice.get("/orders/").content


def test_bad_name_shows_a_form_error_and_creates_no_order(users):
    response = browser(users["alice"]).post(
        "/catalog/linux-vm/",
        {"name": "Bad Name!", "size": "small", "project": Project.objects.get(slug="web-shop").pk},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["name"]
    assert b'data-testid="error-name"' in response.content
    assert not Order.objects.exists()


def test_bob_sees_the_count_and_approves(users):
    order = order_as_alice(users)
    approval = ApprovalRequest.objects.get(order=order)
    bob = browser(users["bob"])
    menu = bob.get("/")
    assert b'data-testid="pending-approvals">1<' in menu.content
    assert bob.get("/approvals/").status_code == 200
    detail = bob.get(f"/approvals/{approval.pk}/")
    assert detail.status_code == 200 and b"web-01" in detail.content

    response = bob.post(
        f"/approvals/{approval.pk}/decide/", {"decision": "approve", "comment": "ok"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == "approved"  # the decision is recorded; a worker deploys it
    order_deploy(order_id=order.pk)  # as the worker would
    order.refresh_from_db()
    assert order.status == "provisioning"  # no worker runs the steps in these tests
    assert b'data-testid="pending-approvals">0<' in bob.get("/").content
    page = browser(users["alice"]).get(f"/orders/{order.pk}/")
    assert b'data-testid="order-status">provisioning<' in page.content
    assert b"/resources/" in page.content


def test_bob_rejects(users):
    order = order_as_alice(users)
    approval = ApprovalRequest.objects.get(order=order)
    browser(users["bob"]).post(f"/approvals/{approval.pk}/decide/", {"decision": "reject"})
    order.refresh_from_db()
    assert order.status == "rejected"
    page = browser(users["alice"]).get(f"/orders/{order.pk}/")
    assert b'hx-trigger="every 2s"' not in page.content  # final: no more polling


def test_alice_cannot_decide_her_own_order(users):
    approval = ApprovalRequest.objects.get(order=order_as_alice(users))
    alice = browser(users["alice"])
    assert alice.get(f"/approvals/{approval.pk}/").status_code == 404
    assert (
        alice.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"}).status_code == 404
    )


def test_dave_cannot_see_alices_order(users):
    order = order_as_alice(users)
    dave = browser(users["dave"])
    assert dave.get(f"/orders/{order.pk}/").status_code == 404
    assert dave.get(f"/orders/{order.pk}/live/").status_code == 404


def test_resource_pages_and_actions(users):
    order = order_as_alice(users)
    approval = ApprovalRequest.objects.get(order=order)
    browser(users["bob"]).post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"})
    order_deploy(order_id=approval.order_id)  # as the worker would
    resource = order.resources.get()
    alice = browser(users["alice"])
    assert b"web-01" in alice.get("/resources/").content
    detail = alice.get(f"/resources/{resource.pk}/")
    assert detail.status_code == 200 and b'hx-trigger="every 2s"' in detail.content
    # A planned resource cannot be stopped: the service's ValidationError becomes a message.
    response = alice.post(
        f"/orders/changes/resources/{resource.pk}/", {"action": "stop"}, follow=True
    )
    assert b"Cannot stop" in response.content
    assert browser(users["dave"]).get(f"/resources/{resource.pk}/").status_code == 404
