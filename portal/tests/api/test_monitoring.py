"""Monitoring through the API: the dashboard (scoped to what the user sees, its counts from the
rollup beat refreshes) and the resource metrics behind the charts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStatus
from catalog.models import Order
from lifecycle.selectors.dashboard import dashboard_summary as lifecycle_summary
from portal.models import ResourceCount
from portal.rollups import STALE_AFTER
from portal.tasks import refresh_rollups
from portal.tests.helpers import (
    make_order,
    make_resource,
    make_step,
    populate,
    sandbox_server_fixture,  # noqa: F401  (fixture: a server the sandbox cloud knows)
    visible_states,
)
from provisioning.models import Resource, Step
from provisioning.selectors import resource_metrics
from tests.fixtures import order_via_api

# --- dashboard ------------------------------------------------------------------------------------


def test_dashboard_is_scoped_to_what_the_user_sees(demo, api_as, client):
    populate(demo)
    order_via_api(api_as(demo["alice"]), demo)  # waits for bob's approval
    web_shop, data_lab = demo["web_shop"], demo["data_lab"]

    dave = api_as(demo["dave"]).get("/api/v1/dashboard/").json()
    alice = api_as(demo["alice"]).get("/api/v1/dashboard/").json()
    bob = api_as(demo["bob"]).get("/api/v1/dashboard/").json()
    admin = api_as(demo["admin"]).get("/api/v1/dashboard/").json()

    assert dave["resources"]["by_state"] == visible_states(data_lab)
    assert alice["resources"]["by_state"] == visible_states(web_shop)
    assert admin["resources"]["by_state"] == visible_states(web_shop, data_lab)
    assert alice["resources"]["by_provider"] == {"sandbox": sum(visible_states(web_shop).values())}
    in_flight = Order.objects.filter(
        project=web_shop, status__in=["submitted", "pending_approval", "approved", "provisioning"]
    )
    assert alice["orders"]["total"] == in_flight.count()
    assert {o["id"] for o in alice["orders"]["recent"]} == set(
        in_flight.values_list("pk", flat=True)
    )
    assert all(o["project"] == data_lab.pk for o in dave["orders"]["recent"])
    pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, order__project=web_shop)
    assert (bob["approvals"]["mine"], bob["approvals"]["total"]) == (1, pending.count())
    assert (alice["approvals"]["mine"], dave["approvals"]["total"]) == (0, 0)
    # Failures link to what failed: the web-shop ones for alice, none of them for dave.
    web_shop_failures = [f for f in alice["failures"] if "/resources/" in f["url"]]
    broken = Resource.objects.get(project=web_shop, state="error")
    assert {f["url"] for f in web_shop_failures} == {f"/resources/{broken.pk}/"}
    assert {f["message"] for f in web_shop_failures} == {"quota exceeded", "the provider said no"}
    assert not {f["url"] for f in dave["failures"]} & {f["url"] for f in alice["failures"]}
    assert {b["label"] for b in bob["spend"]["budgets"]} >= {"project web-shop"}

    client.force_login(demo["dave"])
    page = client.get("/dashboard/").content.decode()
    assert f"/resources/{broken.pk}/" not in page
    assert 'hx-get="/dashboard/live/"' in page and "Failures in the last 24 hours" in page
    assert 'data-testid="lifecycle-summary"' in page
    assert 'data-testid="autoscaling-summary"' in page
    groups = Resource.objects.filter(kind="autoscaling_group")
    assert {g["id"] for g in alice["autoscaling"]["groups"]} == set(
        groups.filter(project=web_shop).values_list("pk", flat=True)
    )
    assert [g["current"] for g in dave["autoscaling"]["groups"]] == [1]
    assert alice["lifecycle"]["open_cases"] == lifecycle_summary(user=demo["alice"])["open_cases"]


def test_dashboard_failures_are_the_last_days_newest_first(demo, api_as):
    """Each kind of failure (order, step, resource) counts only within the window."""
    populate(demo)
    long_ago = timezone.now() - timedelta(days=2)
    old = make_resource(demo, state="error")
    Resource.objects.filter(pk=old.pk).update(state_changed_at=long_ago)
    Step.objects.filter(pk=make_step(old, state="failed", error="old news").pk).update(
        finished_at=long_ago
    )
    Order.objects.filter(pk=make_order(demo, status="failed").pk).update(updated_at=long_ago)
    failures = api_as(demo["alice"]).get("/api/v1/dashboard/").json()["failures"]
    web_shop = Order.objects.filter(
        project=demo["web_shop"], status="failed", updated_at__gt=long_ago
    )
    assert web_shop.exists()
    assert {f["url"] for f in failures if "/orders/" in f["url"]} == {
        f"/orders/{pk}/" for pk in web_shop.values_list("pk", flat=True)
    }
    assert f"/resources/{old.pk}/" not in {f["url"] for f in failures}
    assert "old news" not in {f["message"] for f in failures}
    assert [f["at"] for f in failures] == sorted((f["at"] for f in failures), reverse=True)


def test_dashboard_counts_come_from_the_rollup_beat_refreshes(demo, api_as):
    """The counts are the rollup's (as of `counted_at`), not a scan of the estate on every
    request: a resource created since shows after beat's next refresh."""
    populate(demo)
    alice = api_as(demo["alice"])
    before = alice.get("/api/v1/dashboard/").json()["resources"]
    assert before["by_state"] == visible_states(demo["web_shop"])
    make_resource(demo, state="active")
    assert alice.get("/api/v1/dashboard/").json()["resources"] == before
    refresh_rollups()
    after = alice.get("/api/v1/dashboard/").json()["resources"]
    assert after["by_state"] == visible_states(demo["web_shop"])
    assert after["total"] == before["total"] + 1 and after["counted_at"] > before["counted_at"]


def test_a_rollup_beat_left_behind_is_recounted_on_read(demo, api_as):
    populate(demo)
    refresh_rollups()
    make_resource(demo, state="active")
    ResourceCount.objects.update(refreshed_at=timezone.now() - STALE_AFTER - timedelta(seconds=1))
    answer = api_as(demo["alice"]).get("/api/v1/dashboard/").json()["resources"]
    assert answer["by_state"] == visible_states(demo["web_shop"])


# --- resource metrics -----------------------------------------------------------------------------


def test_metrics_api_returns_the_series(demo, api_as, sandbox_server):
    until = timezone.now().replace(microsecond=0)
    since = until - timedelta(hours=2)
    answer = api_as(demo["alice"]).get(
        f"/api/v1/resources/{sandbox_server.pk}/metrics/",
        {"since": since.isoformat(), "until": until.isoformat(), "step": 600},
    )
    assert answer.status_code == 200
    expected = resource_metrics(
        resource=sandbox_server, since=since, until=until, step=timedelta(seconds=600)
    )
    assert len(answer.json()) == len(expected) > 0
    assert [p["cpu_percent"] for p in answer.json()] == [p.cpu_percent for p in expected]
    assert all(0 <= p["cpu_percent"] <= 100 for p in answer.json())


@pytest.mark.parametrize(
    "query",
    [
        {"step": 1},
        {"step": "often"},
        {"since": "yesterday"},
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z", "step": 60},
    ],
)
def test_metrics_api_refuses_bad_parameters(demo, api_as, sandbox_server, query):
    answer = api_as(demo["alice"]).get(f"/api/v1/resources/{sandbox_server.pk}/metrics/", query)
    assert answer.status_code == 400
    assert set(answer.json()) <= {"since", "until", "step"}


def test_metrics_api_hides_other_projects_resources(demo, api_as, sandbox_server):
    assert (
        api_as(demo["dave"]).get(f"/api/v1/resources/{sandbox_server.pk}/metrics/").status_code
        == 404
    )
    assert api_as(demo["alice"]).get("/api/v1/resources/999999/metrics/").status_code == 404
