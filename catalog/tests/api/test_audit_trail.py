"""The audit trail through the API (`/api/v1/audit/`): the events of the caller's projects'
orders, newest first, a page at a time, filtered as the HTML list is, bad filters a 400."""

import pytest

from core.models import AuditEvent
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_the_audit_trail_pages_and_filters_what_the_caller_may_read(world, api_as):
    order_id = order_via_api(api_as(world["alice"]), world).data["id"]
    events = AuditEvent.objects.filter(order_id=order_id)
    alice = api_as(world["alice"])

    listed = alice.get(f"/api/v1/audit/?order={order_id}").json()
    assert listed["count"] == events.count() > 1
    assert {row["order"] for row in listed["results"]} == {order_id}
    newest = events.order_by("-created_at", "-id").first()
    assert listed["results"][0]["id"] == newest.pk
    assert "alice" in {row["actor"] for row in listed["results"]}  # she submitted it

    one = alice.get(f"/api/v1/audit/?order={order_id}&page_size=1").json()
    assert (one["count"], len(one["results"])) == (events.count(), 1)
    action = events.order_by("id").first().action
    assert alice.get(f"/api/v1/audit/?action={action}").json()["count"] == (
        events.filter(action=action).count()
    )
    # dave works in data-lab: web-shop's trail is not his to read.
    assert api_as(world["dave"]).get("/api/v1/audit/").json()["count"] == 0

    bad = alice.get("/api/v1/audit/?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()
    foreign = alice.get(f"/api/v1/audit/?project={world['data_lab'].pk}")
    assert foreign.status_code == 400 and "project" in foreign.json()
