"""Drift: the reconciler compares what Canopy recorded with what the provider reports (power,
size, volume size, load balancer members, DNS address), shows it on the resource page, the
dashboard and /metrics, and by policy restores it or adopts it.

At moto: an EC2 server stopped behind Canopy's back is shown as drift and started again. On the
sandbox: members restored, batches read without locks. (Adopted changes billed from then on:
billing/tests/services/test_drift_metering.py.)"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.models import AuditEvent
from core.tests.factories import OrganizationFactory, admin_of
from provisioning.models import Drift, DriftPolicy, Resource, SandboxObject
from provisioning.services import reconciler
from provisioning.services.reconciler import reconcile_accounts
from provisioning.tests.factories import CloudAccountFactory, OrderFactory, deployed_server
from provisioning.tests.helpers import (
    CLOUDWATCH,
    deployed,
    ec2_account,
    instance_state,
    planned_order,
    provisioned_server,
)
from provisioning.tests.plans import EC2_SERVER, web_tier_plan
from provisioning.tests.saga import run_queued
from tests.moto_server import boto

pytestmark = pytest.mark.django_db


def _policy(account, action: str) -> DriftPolicy:
    return DriftPolicy.objects.create(
        organization=account.organization, cloud_account=account, action=action
    )


def test_an_ec2_server_stopped_at_the_provider_is_drift_and_started_again(moto, client):
    ec2 = ec2_account(OrganizationFactory(), moto, **CLOUDWATCH)
    server = provisioned_server("kept-up", server=EC2_SERVER, cloud_account=ec2)
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

    client.force_login(server.order.requester)
    page = client.get(f"/resources/{server.pk}/").content.decode()
    assert 'data-testid="resource-drift"' in page and "Power state" in page
    dashboard = client.get("/dashboard/live/").content.decode()
    assert 'data-testid="dashboard-drift-open">1<' in dashboard
    client.force_login(admin_of(ec2.organization))
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


def test_restore_puts_load_balancer_members_back():
    order = deployed(planned_order(web_tier_plan("shop", instances=2)))
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


def test_the_organization_policy_applies_unless_the_account_has_its_own():
    account = CloudAccountFactory()
    assert reconciler.drift_policy_for(account=account) == "adopt"  # no policy: adopt
    DriftPolicy.objects.create(organization=account.organization, action="restore")
    assert reconciler.drift_policy_for(account=account) == "restore"
    _policy(account, DriftPolicy.Action.ADOPT)
    assert reconciler.drift_policy_for(account=account) == "adopt"


def test_batches_are_compared_without_locks(monkeypatch):
    """Only the resource that differs is locked, in its own transaction."""
    monkeypatch.setattr(reconciler, "RECONCILE_BATCH", 2)
    order = OrderFactory()
    servers = [deployed_server(order=order) for _ in range(5)]
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
    assert len(batches) >= 3  # five resources, two at a time
    assert Resource.objects.get(pk=servers[3].pk).state == "stopped"
    assert timezone.now() > Drift.objects.get().detected_at
