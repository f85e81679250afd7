"""The resource page's lease panel: the lease with its buttons, and the idle notice and the
lease warning open it, where Keep (with its reason) and Extend are one click."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Notification
from lifecycle.models import Lease, ReclaimCase
from lifecycle.services.leases import lease_process
from lifecycle.services.reclaim import reclaim_evaluate
from lifecycle.tests.helpers import (
    WAITS,
    completed,
    idle_policy,
    server_of,
)
from provisioning.services.simulation import simulated_load_set

pytestmark = pytest.mark.django_db


def test_resource_page_shows_the_lease_with_its_buttons(shop, client):
    order = completed(shop)
    server = server_of(order)
    client.force_login(shop["alice"])
    page = client.get(f"/resources/{server.pk}/")
    assert page.status_code == 200
    assert b"Lease" in page.content and b"Extend" in page.content
    answer = client.post(
        f"/lifecycle/leases/{order.lease.pk}/extend/",
        {"days": 2, "next": f"/resources/{server.pk}/"},
    )
    assert answer.status_code == 302
    assert client.get("/lifecycle/").status_code == 200
    listing = client.get("/resources/")
    assert b"Lease expires" in listing.content


def test_owners_act_from_the_notice_in_one_click(shop, client):
    """The idle notice and the lease warning open the resource page's panel: Keep (with its
    reason) and Extend are one click there."""
    idle_policy(shop, **WAITS)
    order = completed(shop, name="idle-2")
    server = server_of(order)
    simulated_load_set(resource=server, load="idle")
    t0 = timezone.now() + timedelta(hours=1)
    reclaim_evaluate(now=t0)
    Lease.objects.filter(order=order).update(expires_at=t0 + timedelta(days=2))
    lease_process(now=t0)
    idle_notice = Notification.objects.get(user=shop["alice"], subject__contains="idle")
    warning = Notification.objects.get(user=shop["alice"], subject__contains="expires")
    assert idle_notice.url == warning.url == f"/resources/{server.pk}/#resource-lease"

    client.force_login(shop["alice"])
    page = client.get(idle_notice.url.partition("#")[0]).content.decode()
    assert 'id="resource-lease"' in page and 'name="reason"' in page and ">Extend<" in page
    lease = Lease.objects.get(order=order)
    client.post(f"/lifecycle/leases/{lease.pk}/extend/", {"days": 7})
    lease.refresh_from_db()
    assert lease.expires_at == t0 + timedelta(days=9)
    client.post(f"/lifecycle/resources/{server.pk}/keep/", {"reason": "nightly batch"})
    assert ReclaimCase.objects.get(resource=server).close_reason.startswith("kept")
