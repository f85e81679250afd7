"""Leases (created on completion, extended within the maximum or through a manager, warned once,
retired, unretired, deleted after the grace period), idle reclaim graded with a moving `now`,
"keep", savings and permissions. The provisioning saga runs step by step in the test process
(as in test_saga), so each policy action is followed to the cloud and back."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.services.deciding import approval_decide
from billing.pricing import PriceBook
from catalog.orders import order_cancel
from core.models import AuditEvent, Notification
from lifecycle.models import Lease, ReclaimCase, Saving
from lifecycle.selectors.dashboard import dashboard_summary
from lifecycle.services.leases import grace_period, lease_extend, lease_process, lease_unretire
from lifecycle.services.reclaim import (
    idle_policy_save,
    reclaim_evaluate,
    resource_keep_remove,
    resource_keep_set,
)
from lifecycle.tests.helpers import WAITS, completed, idle_policy, server_of
from provisioning.models import Resource
from provisioning.services import sandbox_set_load
from tests.test_saga import admit_and_deploy, deploy_approved, run_queued

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def prices(server: Resource):
    return PriceBook([server.cloud_account_id]).hourly(
        cloud_account_id=server.cloud_account_id,
        kind="server",
        size=server.properties["size"],
        properties=server.properties,
    )


# --- leases -------------------------------------------------------------------------------
def test_a_completed_order_gets_its_items_default_lease(demo):
    order = completed(demo)
    lease = Lease.objects.get(order=order)
    assert lease.state == "active"
    assert lease.expires_at - lease.starts_at == timedelta(days=order.item.lease_default_days)
    assert AuditEvent.objects.filter(action="lease.opened", order=order).count() == 1


def test_an_item_without_a_default_lease_gives_none(demo):
    demo["linux_vm"].lease_default_days = demo["linux_vm"].lease_max_days = None
    demo["linux_vm"].save()
    order = completed(demo)
    assert not Lease.objects.filter(order=order).exists()


def test_extending_within_the_maximum_is_self_service(demo):
    lease = Lease.objects.get(order=completed(demo))
    before = lease.expires_at
    result = lease_extend(user=demo["alice"], lease_id=lease.pk, days=10)
    lease.refresh_from_db()
    assert result == lease and lease.expires_at == before + 10 * DAY
    assert AuditEvent.objects.filter(action="lease.extended", actor=demo["alice"]).exists()


def test_beyond_the_maximum_a_change_order_goes_to_the_manager(demo):
    # A medium server: its lease extension keeps more than the 20/month that "Acme small
    # changes" approves at once, so bob decides under "Acme standard".
    order = completed(demo, size="medium")
    lease = Lease.objects.get(order=order)
    item = order.item
    days = item.lease_max_days - item.lease_default_days + 5  # 5 days past the maximum
    with pytest.raises(ValidationError) as refused:  # beyond the maximum, say why
        lease_extend(user=demo["alice"], lease_id=lease.pk, days=days)
    assert "reason" in refused.value.message_dict
    request = lease_extend(user=demo["alice"], lease_id=lease.pk, days=days, reason="quarter end")
    assert (request.kind, request.action, request.status) == ("change", "extend_lease", "submitted")
    admit_and_deploy(request.pk)
    request.refresh_from_db()
    assert request.status == "pending_approval"
    lease.refresh_from_db()
    assert lease.expires_at - lease.starts_at == timedelta(days=item.lease_default_days)
    assert Notification.objects.filter(user=demo["bob"], subject__contains="keep order").exists()
    with pytest.raises(ApprovalRequest.DoesNotExist):  # the requester may not decide
        approval_decide(user=demo["alice"], approval_id=request.approval.pk, approve=True)
    approval_decide(
        user=demo["bob"], approval_id=request.approval.pk, approve=True, comment="quarter end"
    )
    deploy_approved()
    request.refresh_from_db()
    assert request.status == "completed"
    lease.refresh_from_db()
    assert lease.expires_at - lease.starts_at == timedelta(days=item.lease_max_days + 5)
    assert Notification.objects.filter(user=demo["alice"], subject__contains="approved").exists()


def test_a_rejected_or_withdrawn_extension_leaves_the_lease_alone(demo):
    lease = Lease.objects.get(order=completed(demo, size="medium"))
    before = lease.expires_at
    request = lease_extend(user=demo["alice"], lease_id=lease.pk, days=500, reason="x")
    with pytest.raises(ValidationError):  # one pending request at a time
        lease_extend(user=demo["alice"], lease_id=lease.pk, days=400, reason="y")
    admit_and_deploy(request.pk)
    approval_decide(user=demo["bob"], approval_id=request.approval.pk, approve=False)
    lease.refresh_from_db()
    assert lease.expires_at == before
    withdrawn = lease_extend(user=demo["alice"], lease_id=lease.pk, days=400, reason="y")
    order_cancel(user=demo["alice"], order_id=withdrawn.pk)
    withdrawn.refresh_from_db()
    lease.refresh_from_db()
    assert withdrawn.status == "cancelled" and lease.expires_at == before


def test_warnings_go_out_once_each(demo):
    order = completed(demo)
    lease = Lease.objects.get(order=order)
    mail.outbox.clear()
    early = lease.expires_at - 8 * DAY
    assert lease_process(now=early) == {}
    week = lease.expires_at - 6 * DAY
    assert lease_process(now=week) == {"warned": 1}
    assert lease_process(now=week + timedelta(hours=1)) == {}  # not twice
    day = lease.expires_at - timedelta(hours=12)
    assert lease_process(now=day) == {"warned": 1}
    assert lease_process(now=day) == {}
    warnings = Notification.objects.filter(user=demo["alice"], subject__contains="expires")
    assert warnings.count() == 2
    lease.refresh_from_db()
    assert lease.warnings_sent == [7, 1]
    assert AuditEvent.objects.filter(action="lease.warned", order=order).count() == 2


@override_settings(CANOPY_LEASE_GRACE_DAYS=3)
def test_expiry_stops_then_the_grace_period_ends_in_deletion(demo):
    order = completed(demo)
    lease = Lease.objects.get(order=order)
    server = server_of(order)
    expiry = lease.expires_at
    assert lease_process(now=expiry) == {"retired": 1}
    assert lease_process(now=expiry + timedelta(minutes=1)) == {}  # idempotent
    run_queued()
    server.refresh_from_db()
    lease.refresh_from_db()
    assert server.state == "stopped" and lease.state == "retired"
    assert lease.delete_at == expiry + 3 * DAY
    stop = AuditEvent.objects.get(action="resource.state", to_state="stopping", target_id=server.pk)
    assert stop.actor is None and "lease expired" in stop.message
    saved = Saving.objects.get(resource=server)
    price = prices(server)
    assert saved.hourly == price.running - price.idle and saved.source == "lease"

    assert lease_process(now=expiry + 2 * DAY) == {}  # still in grace
    assert lease_process(now=expiry + 3 * DAY) == {"deleted": 1}
    run_queued()
    server.refresh_from_db()
    lease.refresh_from_db()
    assert lease.state == "deleted"
    assert set(order.resources.values_list("state", flat=True)) == {"deleted"}
    assert lease_process(now=expiry + 4 * DAY) == {}


def test_a_whole_web_tier_is_retired_and_deleted_with_its_savings(demo):
    """Every server of the order stops together; deleting records what each resource cost in
    the state it was in (a stopped server: its idle price), priced by one price book."""
    order = completed(demo, "web-tier", name="tier", instances=2, zone="shop.example")
    servers = list(order.resources.filter(kind="server"))
    assert len(servers) == 2
    expiry = Lease.objects.get(order=order).expires_at
    assert lease_process(now=expiry) == {"retired": 1}
    run_queued()
    stops = Saving.objects.filter(action="stop")
    assert {s.resource_id for s in stops} == {s.pk for s in servers}
    for saving in stops:
        price = prices(saving.resource)
        assert saving.hourly == price.running - price.idle
    with CaptureQueriesContext(connection) as queries:
        assert lease_process(now=expiry + grace_period()) == {"deleted": 1}
    rate_reads = [q for q in queries.captured_queries if "billing_rate" in q["sql"]]
    assert len(rate_reads) == 1
    deletes = {s.resource_id: s.hourly for s in Saving.objects.filter(action="delete")}
    for server in servers:  # a stopped server still pays its idle price, if any
        assert deletes.get(server.pk, Decimal(0)) == prices(server).idle
    volumes = set(order.resources.filter(kind="volume").values_list("pk", flat=True))
    assert len(volumes) == 2 and volumes <= set(deletes)


def test_unretire_starts_the_servers_and_renews_the_lease(demo):
    order = completed(demo)
    lease = Lease.objects.get(order=order)
    server = server_of(order)
    lease_process(now=lease.expires_at)
    run_queued()
    with pytest.raises(PermissionDenied):  # dave is not in web-shop
        lease_unretire(user=demo["dave"], lease_id=lease.pk)
    now = timezone.now()
    lease_unretire(user=demo["alice"], lease_id=lease.pk, now=now)
    run_queued()
    server.refresh_from_db()
    lease.refresh_from_db()
    assert server.state == "active"
    assert lease.state == "active" and lease.delete_at is None
    # the default again, but never past the maximum counted from the lease's start
    limit = lease.starts_at + timedelta(days=order.item.lease_max_days)
    assert lease.expires_at == min(now + timedelta(days=order.item.lease_default_days), limit)
    assert Saving.objects.get(resource=server).ended_at is not None  # running again


def test_a_lease_whose_resources_a_person_deleted_ends(demo, api_as):
    order = completed(demo)
    answer = api_as(demo["alice"]).post(f"/api/v1/orders/{order.pk}/destroy/")
    assert answer.status_code == 202
    admit_and_deploy(answer.data["id"])  # a destroy order: "Acme deletions" approves it at once
    run_queued()
    assert Lease.objects.get(order=order).state == "deleted"


# --- idle reclaim -------------------------------------------------------------------------
def idle_server(demo, load="idle"):
    order = completed(demo)
    server = server_of(order)
    sandbox_set_load(resource=server, load=load)
    return server


def test_an_idle_server_is_reclaimed_in_graded_steps(demo):
    idle_policy(demo, **WAITS)
    server = idle_server(demo)
    t0 = timezone.now() + timedelta(hours=1)  # the server has run through one window
    assert reclaim_evaluate(now=t0) == {"notified": 1}
    case = ReclaimCase.objects.get(resource=server)
    assert case.grade == "notified" and case.evidence["idle"]
    assert Notification.objects.filter(user=demo["alice"], subject__contains="idle").count() == 1
    assert reclaim_evaluate(now=t0 + timedelta(hours=1)) == {"waiting": 1}
    assert reclaim_evaluate(now=t0 + timedelta(hours=2)) == {"stopped": 1}
    run_queued()
    server.refresh_from_db()
    assert server.state == "stopped"
    assert Saving.objects.get(resource=server, action="stop").source == "reclaim"
    assert reclaim_evaluate(now=t0 + timedelta(hours=4)) == {"waiting": 1}
    assert reclaim_evaluate(now=t0 + timedelta(hours=5)) == {"retired": 1}
    assert reclaim_evaluate(now=t0 + timedelta(hours=9)) == {"deleted": 1}
    run_queued()
    server.refresh_from_db()
    case.refresh_from_db()
    assert server.state == "deleted" and case.closed_at is not None
    grades = AuditEvent.objects.filter(action="reclaim.graded").values_list("to_state", flat=True)
    assert list(grades) == ["notified", "stopped", "retired", "deleted"]
    # stopping saved the running price less the stopped price (its disk), deleting the rest
    saved = Saving.objects.filter(resource=server).values_list("hourly", flat=True)
    assert sum(saved) == prices(server).running
    assert reclaim_evaluate(now=t0 + timedelta(hours=10)) == {}


def test_an_empty_wait_stops_the_ladder_there(demo):
    idle_policy(demo, notify_after=timedelta(0), stop_after=None, retire_after=timedelta(0))
    server = idle_server(demo)
    t0 = timezone.now() + timedelta(hours=1)
    reclaim_evaluate(now=t0)
    reclaim_evaluate(now=t0 + 30 * DAY)
    assert ReclaimCase.objects.get(resource=server).grade == "notified"


def test_busy_servers_and_servers_without_metrics_are_left_alone(demo):
    idle_policy(demo, **WAITS)
    server = idle_server(demo, load="busy")
    assert reclaim_evaluate(now=timezone.now() + timedelta(hours=1)) == {"busy": 1}
    assert not ReclaimCase.objects.exists()
    # A provider reporting no metrics (the ec2 adapter): never reclaimed.
    server.external_id = ""
    server.save(update_fields=["external_id"])
    assert reclaim_evaluate(now=timezone.now() + timedelta(hours=1)) == {"busy": 1}


def test_activity_closes_the_case(demo):
    idle_policy(demo, **WAITS)
    server = idle_server(demo)
    t0 = timezone.now() + timedelta(hours=1)
    reclaim_evaluate(now=t0)
    sandbox_set_load(resource=server, load=60)
    assert reclaim_evaluate(now=t0 + timedelta(hours=1)) == {"closed": 1}
    case = ReclaimCase.objects.get(resource=server)
    assert case.closed_at is not None and case.close_reason.startswith("active again")
    assert AuditEvent.objects.filter(action="reclaim.closed", target_id=case.pk).exists()


def test_keep_skips_the_server_until_removed(demo):
    idle_policy(demo, **WAITS)
    server = idle_server(demo)
    t0 = timezone.now() + timedelta(hours=1)
    reclaim_evaluate(now=t0)
    with pytest.raises(PermissionDenied):
        resource_keep_set(user=demo["dave"], resource_id=server.pk, reason="mine")
    resource_keep_set(user=demo["alice"], resource_id=server.pk, reason="demo on Friday")
    case = ReclaimCase.objects.get(resource=server)
    assert case.closed_at is not None and "demo on Friday" in case.close_reason
    assert reclaim_evaluate(now=t0 + 5 * DAY) == {"kept": 1}
    server.refresh_from_db()
    assert server.state == "active"
    resource_keep_remove(user=demo["alice"], resource_id=server.pk)
    assert reclaim_evaluate(now=t0 + 5 * DAY) == {"notified": 1}


def test_a_project_policy_beats_the_organizations(demo):
    idle_policy(demo, **WAITS)
    idle_policy_save(
        user=None,
        project=demo["web_shop"],
        fields={"name": "web-shop lenient", "cpu_below_percent": 1, "window": DAY},
    )
    idle_server(demo, load=3)  # idle for Acme (below 5 %), not for web-shop (below 1 %)
    assert reclaim_evaluate(now=timezone.now() + 2 * DAY) == {"busy": 1}


def test_policies_are_for_organization_admins(demo):
    with pytest.raises(PermissionDenied):
        idle_policy_save(
            user=demo["bob"],
            organization=demo["web_shop"].organization,
            fields={"name": "x", "window": DAY},
        )


# --- savings and the dashboard --------------------------------------------------------------
def test_savings_are_reported_by_project_and_on_the_api(demo, api_as, client):
    order = completed(demo)
    lease = Lease.objects.get(order=order)
    server = server_of(order)
    lease_process(now=lease.expires_at)
    saving = Saving.objects.get(resource=server)
    # the saving started at the (future) expiry: pretend it started 10 hours ago
    Saving.objects.filter(pk=saving.pk).update(started_at=timezone.now() - timedelta(hours=10))
    answer = api_as(demo["carol"]).get("/api/v1/savings/", {"group_by": "cost_center"})
    assert answer.status_code == 200
    row = answer.data["rows"][0]
    assert row["key"] == "CC-100"
    expected = saving.hourly * 10
    assert abs(Decimal(row["amount"]) - expected) <= Decimal("0.01")
    assert Decimal(answer.data["total"]) == Decimal(row["amount"])
    # dave (data-lab) sees none of web-shop's savings
    assert api_as(demo["dave"]).get("/api/v1/savings/").data["rows"] == []
    client.force_login(demo["carol"])
    page = client.get("/costs/")
    assert page.status_code == 200 and b"Savings" in page.content


def test_dashboard_summary_counts_what_the_user_sees(demo):
    order = completed(demo)
    lease = Lease.objects.get(order=order)
    soon = lease.expires_at - 2 * DAY
    summary = dashboard_summary(user=demo["alice"], now=soon)
    assert summary["expiring_count"] == 1 and summary["expiring"][0] == lease
    assert dashboard_summary(user=demo["dave"], now=soon)["expiring_count"] == 0


# --- API and pages --------------------------------------------------------------------------
def test_api_lease_on_resources_extend_and_permissions(demo, api_as):
    order = completed(demo)
    lease = Lease.objects.get(order=order)
    server = server_of(order)
    alice, dave = api_as(demo["alice"]), api_as(demo["dave"])
    listed = alice.get("/api/v1/resources/", {"order": order.pk}).data["results"]
    assert {r["lease_expires_at"] is not None for r in listed} == {True}
    assert alice.get(f"/api/v1/leases/{lease.pk}/").status_code == 200
    assert dave.get(f"/api/v1/leases/{lease.pk}/").status_code == 404
    assert dave.post(f"/api/v1/leases/{lease.pk}/extend/", {"days": 1}).status_code == 404
    answer = alice.post(f"/api/v1/leases/{lease.pk}/extend/", {"days": 3}, format="json")
    assert answer.status_code == 200
    unexplained = alice.post(f"/api/v1/leases/{lease.pk}/extend/", {"days": 900}, format="json")
    assert unexplained.status_code == 400 and "reason" in unexplained.data
    answer = alice.post(
        f"/api/v1/leases/{lease.pk}/extend/", {"days": 900, "reason": "audit"}, format="json"
    )
    assert answer.status_code == 202
    assert (answer.data["kind"], answer.data["action"]) == ("change", "extend_lease")
    listed = alice.get("/api/v1/orders/", {"kind": "change"}).data["results"]
    assert [o["id"] for o in listed] == [answer.data["id"]]
    keep = alice.post("/api/v1/resource-keeps/", {"resource": server.pk, "reason": "demo"})
    assert keep.status_code == 201
    assert (
        dave.post("/api/v1/resource-keeps/", {"resource": server.pk, "reason": "x"}).status_code
        == 404
    )
    assert alice.delete(f"/api/v1/resource-keeps/{keep.data['id']}/").status_code == 204


def test_resource_page_shows_the_lease_with_its_buttons(demo, client):
    order = completed(demo)
    server = server_of(order)
    client.force_login(demo["alice"])
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


def test_idle_policies_over_the_api_are_for_organization_admins(demo, api_as):
    body = {
        "name": "Acme idle",
        "organization": "acme",
        "window": "01:00:00",
        "stop_after": "2 00:00:00",
    }
    assert api_as(demo["bob"]).post("/api/v1/idle-policies/", body).status_code == 403
    admin = api_as(demo["admin"])
    created = admin.post("/api/v1/idle-policies/", body)
    assert created.status_code == 201 and created.data["stop_after"] == "2 00:00:00"
    assert admin.post("/api/v1/idle-policies/", body).status_code == 400  # one per organization
    project = {"name": "web-shop", "project": demo["web_shop"].pk, "window": "00:10:00"}
    assert admin.post("/api/v1/idle-policies/", project).status_code == 201
    both = {**body, "project": demo["data_lab"].pk}
    assert admin.post("/api/v1/idle-policies/", both).status_code == 400
    changed = admin.patch(f"/api/v1/idle-policies/{created.data['id']}/", {"enabled": False})
    assert changed.status_code == 200 and changed.data["enabled"] is False
    assert api_as(demo["alice"]).get("/api/v1/idle-policies/").data["results"] == []
    assert AuditEvent.objects.filter(action__startswith="idle_policy.").count() == 3


def test_the_resource_list_reads_leases_in_constant_queries(demo, api_as):
    alice = api_as(demo["alice"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get("/api/v1/resources/").status_code == 200
        return len(captured)

    completed(demo, name="vm1")
    one = queries()
    completed(demo, name="vm2")
    assert queries() == one
