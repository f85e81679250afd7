"""Leases: created on completion, extended within the maximum or through a manager, warned
once, retired with the servers stopped, deleted after the grace period, unretired; each
action is followed to the cloud and back by the saga run step by step in the test process."""

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
from catalog.orders import order_cancel
from catalog.tests.saga import admit_and_deploy, deploy_approved, run_queued
from core.models import AuditEvent, Notification
from lifecycle.models import Lease, Saving
from lifecycle.services.leases import grace_period, lease_extend, lease_process, lease_unretire
from lifecycle.tests.helpers import (
    DAY,
    completed,
    prices,
    server_of,
)

pytestmark = pytest.mark.django_db


def test_a_completed_order_gets_its_items_default_lease(shop):
    order = completed(shop)
    lease = Lease.objects.get(order=order)
    assert lease.state == "active"
    assert lease.expires_at - lease.starts_at == timedelta(days=order.item.lease_default_days)
    assert AuditEvent.objects.filter(action="lease.opened", order=order).count() == 1


def test_an_item_without_a_default_lease_gives_none(shop):
    shop["linux_vm"].lease_default_days = shop["linux_vm"].lease_max_days = None
    shop["linux_vm"].save()
    order = completed(shop)
    assert not Lease.objects.filter(order=order).exists()


def test_extending_within_the_maximum_is_self_service(shop):
    lease = Lease.objects.get(order=completed(shop))
    before = lease.expires_at
    result = lease_extend(user=shop["alice"], lease_id=lease.pk, days=10)
    lease.refresh_from_db()
    assert result == lease and lease.expires_at == before + 10 * DAY
    assert AuditEvent.objects.filter(action="lease.extended", actor=shop["alice"]).exists()


def test_beyond_the_maximum_a_change_order_goes_to_the_manager(shop):
    # A medium server: its lease extension keeps more than the 20/month that "Small changes"
    # approves at once, so bob decides under "Standard".
    order = completed(shop, size="medium")
    lease = Lease.objects.get(order=order)
    item = order.item
    days = item.lease_max_days - item.lease_default_days + 5  # 5 days past the maximum
    with pytest.raises(ValidationError) as refused:  # beyond the maximum, say why
        lease_extend(user=shop["alice"], lease_id=lease.pk, days=days)
    assert "reason" in refused.value.message_dict
    request = lease_extend(user=shop["alice"], lease_id=lease.pk, days=days, reason="quarter end")
    assert (request.kind, request.action, request.status) == ("change", "extend_lease", "submitted")
    admit_and_deploy(request.pk)
    request.refresh_from_db()
    assert request.status == "pending_approval"
    lease.refresh_from_db()
    assert lease.expires_at - lease.starts_at == timedelta(days=item.lease_default_days)
    assert Notification.objects.filter(user=shop["bob"], subject__contains="keep order").exists()
    with pytest.raises(ApprovalRequest.DoesNotExist):  # the requester may not decide
        approval_decide(user=shop["alice"], approval_id=request.approval.pk, approve=True)
    approval_decide(
        user=shop["bob"], approval_id=request.approval.pk, approve=True, comment="quarter end"
    )
    deploy_approved()
    request.refresh_from_db()
    assert request.status == "completed"
    lease.refresh_from_db()
    assert lease.expires_at - lease.starts_at == timedelta(days=item.lease_max_days + 5)
    assert Notification.objects.filter(user=shop["alice"], subject__contains="approved").exists()


def test_a_rejected_or_withdrawn_extension_leaves_the_lease_alone(shop):
    lease = Lease.objects.get(order=completed(shop, size="medium"))
    before = lease.expires_at
    request = lease_extend(user=shop["alice"], lease_id=lease.pk, days=500, reason="x")
    with pytest.raises(ValidationError):  # one pending request at a time
        lease_extend(user=shop["alice"], lease_id=lease.pk, days=400, reason="y")
    admit_and_deploy(request.pk)
    approval_decide(user=shop["bob"], approval_id=request.approval.pk, approve=False)
    lease.refresh_from_db()
    assert lease.expires_at == before
    withdrawn = lease_extend(user=shop["alice"], lease_id=lease.pk, days=400, reason="y")
    order_cancel(user=shop["alice"], order_id=withdrawn.pk)
    withdrawn.refresh_from_db()
    lease.refresh_from_db()
    assert withdrawn.status == "cancelled" and lease.expires_at == before


def test_warnings_go_out_once_each(shop):
    order = completed(shop)
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
    warnings = Notification.objects.filter(user=shop["alice"], subject__contains="expires")
    assert warnings.count() == 2
    lease.refresh_from_db()
    assert lease.warnings_sent == [7, 1]
    assert AuditEvent.objects.filter(action="lease.warned", order=order).count() == 2


@override_settings(CANOPY_LEASE_GRACE_DAYS=3)
def test_expiry_stops_then_the_grace_period_ends_in_deletion(shop):
    order = completed(shop)
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


def test_a_whole_web_tier_is_retired_and_deleted_with_its_savings(shop):
    """Every server of the order stops together; deleting records what each resource cost in
    the state it was in (a stopped server: its idle price), priced by one price book."""
    order = completed(shop, "web-tier", name="tier", instances=2, zone="shop.example")
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


def test_unretire_starts_the_servers_and_renews_the_lease(shop):
    order = completed(shop)
    lease = Lease.objects.get(order=order)
    server = server_of(order)
    lease_process(now=lease.expires_at)
    run_queued()
    with pytest.raises(PermissionDenied):  # dave is not in web-shop
        lease_unretire(user=shop["dave"], lease_id=lease.pk)
    now = timezone.now()
    lease_unretire(user=shop["alice"], lease_id=lease.pk, now=now)
    run_queued()
    server.refresh_from_db()
    lease.refresh_from_db()
    assert server.state == "active"
    assert lease.state == "active" and lease.delete_at is None
    # the default again, but never past the maximum counted from the lease's start
    limit = lease.starts_at + timedelta(days=order.item.lease_max_days)
    assert lease.expires_at == min(now + timedelta(days=order.item.lease_default_days), limit)
    assert Saving.objects.get(resource=server).ended_at is not None  # running again
