"""Brownfield adoption over the API: a server launched outside Canopy (at moto) is listed with
what is known and the project its tags suggest; an organization admin adopts it into
web-shop, after which it is billed, counts against the quota, is compared by the reconciler
and takes day-2 actions."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F

from approvals.models import QuotaEntry
from billing.models import RateCard, Unit, Usage
from billing.pricing import PriceBook
from billing.services.metering import meter_hour
from catalog.tests.saga import run_queued
from core.models import AuditEvent
from lifecycle.tests.helpers import (
    launch_outside_canopy,
    organization_admin,
)
from provisioning.models import Resource, UnknownObject
from provisioning.services.day2 import resource_action_request
from provisioning.services.reconciler import reconcile_accounts
from provisioning.tests.helpers import instance_state

pytestmark = pytest.mark.django_db


def test_an_instance_launched_outside_canopy_is_adopted_into_web_shop_and_billed(
    shop, ec2, moto, api_as, client
):
    org_admin = organization_admin(shop)
    RateCard.objects.create(cloud_account=ec2, name="EC2").rates.create(
        resource_kind="server", size="t3.small", unit=Unit.HOUR, price=Decimal("0.0208")
    )
    instance = launch_outside_canopy(moto, "legacy-web", project="web-shop", owner="ops")
    assert reconcile_accounts()["unknown"] == 1

    api = api_as(org_admin)
    [listed] = api.get("/api/v1/adoptable-servers/").json()
    assert (listed["name"], listed["external_id"], listed["size"]) == (
        "legacy-web",
        instance,
        "t3.small",
    )
    assert listed["tags"] == {"Name": "legacy-web", "project": "web-shop", "owner": "ops"}
    assert listed["suggested_project"] == shop["web_shop"].pk and listed["launched_at"]
    client.force_login(org_admin)
    page = client.get("/lifecycle/adopt/").content.decode()
    assert "legacy-web" in page and "project=web-shop" in page

    # Only the organization's admins adopt.
    refused = api_as(shop["alice"]).post(
        "/api/v1/adoptable-servers/adopt/",
        {"objects": [listed["id"]], "project": shop["web_shop"].pk},
        format="json",
    )
    assert refused.status_code == 404  # web-shop is not among her projects to adopt into
    answer = api.post(
        "/api/v1/adoptable-servers/adopt/",
        {"objects": [listed["id"]], "project": shop["web_shop"].pk},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    server = Resource.objects.get(pk=answer.json()["resources"][0])
    assert (server.project, server.external_id, server.state) == (
        shop["web_shop"],
        instance,
        "active",
    )
    assert server.order.status == "completed" and server.properties["size"] == "t3.small"
    assert not UnknownObject.objects.exists()
    assert AuditEvent.objects.filter(action="resource.adopted", actor=org_admin).count() == 1
    committed = QuotaEntry.objects.get(resource=server, status="committed")
    assert (committed.servers, committed.project) == (1, shop["web_shop"])

    # The reconciler now compares it like any server: nothing missing, unknown or drifting.
    assert reconcile_accounts() == {"missing": 0, "drift": 0, "unknown": 0, "unreachable": 0}

    # Billed from its adoption on: the hour after it (moved three hours back, so it has ended).
    server.events.update(at=F("at") - timedelta(hours=3))
    adopted_at = server.events.get(kind="created").at
    hour = (adopted_at + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    meter_hour(hour=hour)
    usage = Usage.objects.get(resource=server, hour=hour)
    price = PriceBook([ec2.pk]).hourly(
        cloud_account_id=ec2.pk, kind="server", size="t3.small", properties=server.properties
    )
    assert (usage.project, usage.cost) == (shop["web_shop"], price.running)
    assert price.running > 0

    # Day-2 actions apply: stopped through Canopy, at moto.
    resource_action_request(user=shop["alice"], resource_id=server.pk, action="stop")
    run_queued()
    assert instance_state(moto, instance) == "stopped"
