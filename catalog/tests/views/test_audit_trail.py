"""The audit trail's page and an order page's share of it: the latest events, the rest linked."""

import pytest

from catalog.tests.helpers import client_as
from catalog.views import ORDER_PAGE_EVENTS
from core.models import AuditEvent
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_the_audit_page_lists_a_page_of_the_callers_events(world, api_as):
    order_id = order_via_api(api_as(world["alice"]), world).data["id"]
    page = client_as(world["alice"]).get(f"/audit/?order={order_id}").content.decode()
    assert f'href="/orders/{order_id}/"' in page and "alice" in page
    assert "Nothing recorded here yet." in client_as(world["dave"]).get("/audit/").content.decode()
    refused = client_as(world["alice"]).get("/audit/?since=yesterday")
    assert refused.status_code == 400 and "Since (ISO 8601)" in refused.content.decode()


def test_an_order_page_shows_its_latest_events_and_links_the_rest(world, api_as):
    order_id = order_via_api(api_as(world["alice"]), world).data["id"]
    AuditEvent.objects.bulk_create(
        AuditEvent(order_id=order_id, action="step_retried", message=f"retry {n}")
        for n in range(ORDER_PAGE_EVENTS)
    )
    total = AuditEvent.objects.filter(order_id=order_id).count()
    page = client_as(world["alice"]).get(f"/orders/{order_id}/").content.decode()
    assert f"The latest {ORDER_PAGE_EVENTS} of {total} events" in page
    assert f'href="/audit/?order={order_id}"' in page
    assert f"retry {ORDER_PAGE_EVENTS - 1}" in page  # the newest are shown
