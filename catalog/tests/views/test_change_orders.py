"""The resource page orders a change: a preview with its price and approvers, then the change
order confirmed; immediate actions need no confirmation."""

import pytest

from approvals.models import ApprovalRequest
from catalog.models import Order
from catalog.tests.helpers import provisioned, server_price
from catalog.tests.saga import admit_and_deploy

pytestmark = pytest.mark.django_db


def test_the_resource_page_confirms_a_change_with_its_price_and_approvers(world, client):
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    client.force_login(world["alice"])
    url = f"/orders/changes/resources/{server.pk}/"
    preview = client.post(url, {"action": "resize", "size": "large"})
    assert preview.status_code == 200
    page = preview.content.decode()
    delta = server_price("large") - server_price("small")
    assert f"+{delta}" in page
    assert "Manager (bob) then Finance (carol)" in page
    assert not Order.objects.filter(kind="change").exists()  # nothing ordered yet

    confirmed = client.post(url, {"action": "resize", "size": "large", "confirm": "1"})
    change = Order.objects.get(kind="change")
    assert confirmed.status_code == 302
    assert confirmed["Location"] == f"/resources/{server.pk}/"
    detail = client.get(f"/resources/{server.pk}/").content.decode()
    assert f'href="/orders/{change.pk}/"' in detail
    assert "Change: resize web-1 to large" in detail
    orders = client.get("/orders/").content.decode()
    assert "Change: resize web-1 to large" in orders

    admit_and_deploy(change.pk)
    client.force_login(world["bob"])
    approval = ApprovalRequest.objects.get(order=change)
    page = client.get(f"/approvals/{approval.pk}/").content.decode()
    assert "Change: resize web-1 to large" in page and f"+{delta}" in page
    decided = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"})
    assert decided.status_code == 302
    client.force_login(world["alice"])

    stop = client.post(url, {"action": "stop"})  # immediate: no confirmation step
    assert stop.status_code == 302
