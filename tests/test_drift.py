"""Drift: the reconciler compares what Canopy recorded with what the provider reports (power,
size, volume size, load balancer members, DNS address), shows it on the resource page, the
dashboard and /metrics, and by policy restores it or adopts it; metering follows the provider.

At moto: an EC2 server stopped behind Canopy's back is shown as drift and started again. On the
sandbox: console resizes adopted and billed from then on, members restored, batches read without
locks."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import Usage
from billing.pricing import PriceBook
from billing.services.metering import meter_hour
from core.models import AuditEvent
from provisioning import services
from provisioning.models import Drift, DriftPolicy, Resource, SandboxObject
from provisioning.services import deployment_start, reconcile_accounts
from tests.moto_server import boto
from tests.test_metrics_sources import ec2_fixture, ec2_order, instance_state  # noqa: F401
from tests.test_saga import approved_order, run_queued

pytestmark = pytest.mark.django_db


def _policy(account, action: str) -> DriftPolicy:
    return DriftPolicy.objects.create(
        organization=account.organization, cloud_account=account, action=action
    )


def test_an_ec2_server_stopped_at_the_provider_is_drift_and_started_again(demo, ec2, moto, client):
    server = ec2_order(demo, ec2, "linux-vm", name="kept-up").resources.get(kind="server")
    _policy(ec2, DriftPolicy.Action.RESTORE)
    boto(moto, "ec2").stop_instances(InstanceIds=[server.external_id])  # in the console

    assert reconcile_accounts()["drift"] == 1
    server.refresh_from_db()
    drift = Drift.objects.get(resource=server)
    assert (drift.field, drift.recorded, drift.reported) == ("power", "active", "stopped")
    assert drift.outcome == "restoring" and drift.resolved_at is None
    # Metering follows the provider: stopped (no compute) from when it was seen, until started.
    assert list(server.events.values_list("kind", flat=True)) == ["created", "stopped"]
    assert server.state == "starting"

    client.force_login(demo["alice"])
    page = client.get(f"/resources/{server.pk}/").content.decode()
    assert 'data-testid="resource-drift"' in page and "Power state" in page
    dashboard = client.get("/dashboard/live/").content.decode()
    assert 'data-testid="dashboard-drift-open">1<' in dashboard
    client.force_login(demo["admin"])
    metrics = client.get("/metrics").content.decode()
    assert 'canopy_drift_open{field="power",provider="ec2"} 1.0' in metrics

    run_queued()  # the start the policy asked for
    server.refresh_from_db()
    assert server.state == "active" and instance_state(moto, server.external_id) == "running"
    assert reconcile_accounts()["drift"] == 0
    drift.refresh_from_db()
    assert drift.outcome == "restored" and drift.resolved_at is not None
    assert list(server.events.values_list("kind", flat=True)) == ["created", "stopped", "started"]
    assert AuditEvent.objects.filter(action="resource.drift", target_id=server.pk).count() == 1


def _server(demo, name: str = "vm1") -> Resource:
    order = approved_order(demo, "linux-vm", name=name)
    deployment_start(order=order)
    run_queued()
    return order.resources.get(kind="server")


def _hour_after_cost(server: Resource, event) -> Decimal:
    """Metering of the clock hour after `event` (three hours ago: every event of the server is
    moved back so that hour has ended): the server's charge, 0 without a row."""
    server.events.update(at=F("at") - timedelta(hours=3))
    event.refresh_from_db()
    hour = (event.at + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    meter_hour(hour=hour)
    usage = Usage.objects.filter(resource=server, hour=hour).first()
    return usage.cost if usage else Decimal(0)


def _price(server: Resource, size: str):
    return PriceBook([server.cloud_account_id]).hourly(
        cloud_account_id=server.cloud_account_id,
        kind="server",
        size=size,
        properties=server.properties,
    )


def test_adopted_console_changes_are_billed_from_then_on(demo):
    resized, stopped = _server(demo, "grown"), _server(demo, "halted")
    SandboxObject.objects.filter(external_id=resized.external_id).update(size="large")
    SandboxObject.objects.filter(external_id=stopped.external_id).update(state="stopped")

    assert reconcile_accounts()["drift"] == 2
    for server in (resized, stopped):
        server.refresh_from_db()
    assert resized.properties["size"] == "large" and stopped.state == "stopped"
    drifts = Drift.objects.values_list("resource", "field", "recorded", "reported", "outcome")
    assert set(drifts) == {
        (resized.pk, "size", "small", "large", "adopted"),
        (stopped.pk, "power", "active", "stopped", "adopted"),
    }
    assert not Drift.objects.filter(resolved_at__isnull=True).exists()
    assert reconcile_accounts()["drift"] == 0  # adopted: nothing differs any more

    # From the hour it was seen: the resized server at its new size, the stopped one its disk.
    assert resized.events.get(kind="resized").size == "large"
    assert (
        _hour_after_cost(resized, resized.events.get(kind="resized"))
        == _price(resized, "large").running
    )
    assert (
        _hour_after_cost(stopped, stopped.events.get(kind="stopped"))
        == _price(stopped, "small").idle
    )


def test_restore_puts_load_balancer_members_back(demo):
    order = approved_order(demo, "web-tier", name="shop", instances=2)
    deployment_start(order=order)
    run_queued()
    balancer = order.resources.get(kind="load_balancer")
    _policy(balancer.cloud_account, DriftPolicy.Action.RESTORE)
    cloud = SandboxObject.objects.get(external_id=balancer.external_id)
    wanted = sorted(m["id"] for m in cloud.attributes["members"])
    cloud.attributes["members"] = cloud.attributes["members"][:1]  # one removed by hand
    cloud.save()

    assert reconcile_accounts()["drift"] == 1
    drift = Drift.objects.get(resource=balancer)
    assert (drift.field, drift.outcome) == ("members", "restoring")
    run_queued()
    cloud.refresh_from_db()
    assert sorted(m["id"] for m in cloud.attributes["members"]) == wanted
    reconcile_accounts()
    drift.refresh_from_db()
    assert drift.outcome == "restored"


def test_the_organization_policy_applies_unless_the_account_has_its_own(demo):
    account = _server(demo).cloud_account
    assert services.drift_policy_for(account=account) == "adopt"  # no policy: adopt
    DriftPolicy.objects.create(organization=account.organization, action="restore")
    assert services.drift_policy_for(account=account) == "restore"
    _policy(account, DriftPolicy.Action.ADOPT)
    assert services.drift_policy_for(account=account) == "adopt"


def test_batches_are_compared_without_locks(demo, monkeypatch):
    """Only the resource that differs is locked, in its own transaction."""
    monkeypatch.setattr(services, "RECONCILE_BATCH", 2)
    servers = [_server(demo, f"vm{n}") for n in range(5)]
    SandboxObject.objects.filter(external_id=servers[3].external_id).update(state="stopped")
    with CaptureQueriesContext(connection) as queries:
        assert reconcile_accounts()["drift"] == 1
    locked = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]
    if connection.features.has_select_for_update:
        assert len(locked) == 1 and str(servers[3].pk) in locked[0]
    batches = [
        q["sql"]
        for q in queries
        if 'FROM "provisioning_resource"' in q["sql"] and "LIMIT 2" in q["sql"]
    ]
    assert len(batches) >= 3  # five (and more: networks) resources, two at a time
    assert Resource.objects.get(pk=servers[3].pk).state == "stopped"
    assert timezone.now() > Drift.objects.get().detected_at
