"""Brownfield adoption: a server launched outside Canopy (at moto) is listed with what is known
and the project its tags suggest; an organization admin adopts it into web-shop, after which it
is billed, counts against the quota, is compared by the reconciler and takes day-2 actions (or,
observed only, none)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F

from approvals.models import QuotaEntry
from billing.models import RateCard, Unit, Usage
from billing.pricing import PriceBook
from billing.services.metering import meter_hour
from catalog.orders import order_destroy
from core.models import AuditEvent, OrganizationRole
from core.services import organization_membership_add
from lifecycle.selectors.adoption import adoptable_servers
from lifecycle.selectors.reclaim import reclaim_candidates
from lifecycle.services.adoption import unknown_servers_adopt
from lifecycle.tests.helpers import idle_policy
from provisioning.models import CloudAccount, Resource, UnknownObject
from provisioning.services.day2 import resource_action_request
from provisioning.services.reconciler import reconcile_accounts
from provisioning.tests.helpers import CLOUDWATCH, IMAGE, ec2_account, instance_state
from tests.moto_server import boto
from tests.saga import run_queued

pytestmark = pytest.mark.django_db


def launch_outside_canopy(url: str, name: str, **tags: str) -> str:
    answer = boto(url, "ec2").run_instances(
        ImageId=IMAGE,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in {"Name": name, **tags}.items()],
            }
        ],
    )
    return answer["Instances"][0]["InstanceId"]


@pytest.fixture
def ec2(demo, moto) -> CloudAccount:
    """Acme's EC2 account at moto, offered to web-shop."""
    account = ec2_account(demo["web_shop"].organization, moto, **CLOUDWATCH)
    account.projects.add(demo["web_shop"])
    return account


@pytest.fixture
def org_admin(demo):
    organization_membership_add(
        user=demo["dave"], organization=demo["web_shop"].organization, role=OrganizationRole.ADMIN
    )
    return demo["dave"]


def test_an_instance_launched_outside_canopy_is_adopted_into_web_shop_and_billed(
    demo, ec2, moto, org_admin, api_as, client
):
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
    assert listed["suggested_project"] == demo["web_shop"].pk and listed["launched_at"]
    client.force_login(org_admin)
    page = client.get("/lifecycle/adopt/").content.decode()
    assert "legacy-web" in page and "project=web-shop" in page

    # Only the organization's admins adopt.
    refused = api_as(demo["alice"]).post(
        "/api/v1/adoptable-servers/adopt/",
        {"objects": [listed["id"]], "project": demo["web_shop"].pk},
        format="json",
    )
    assert refused.status_code == 404  # web-shop is not among her projects to adopt into
    answer = api.post(
        "/api/v1/adoptable-servers/adopt/",
        {"objects": [listed["id"]], "project": demo["web_shop"].pk},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    server = Resource.objects.get(pk=answer.json()["resources"][0])
    assert (server.project, server.external_id, server.state) == (
        demo["web_shop"],
        instance,
        "active",
    )
    assert server.order.status == "completed" and server.properties["size"] == "t3.small"
    assert not UnknownObject.objects.exists()
    assert AuditEvent.objects.filter(action="resource.adopted", actor=org_admin).count() == 1
    committed = QuotaEntry.objects.get(resource=server, status="committed")
    assert (committed.servers, committed.project) == (1, demo["web_shop"])

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
    assert (usage.project, usage.cost) == (demo["web_shop"], price.running)
    assert price.running > 0

    # Day-2 actions apply: stopped through Canopy, at moto.
    resource_action_request(user=demo["alice"], resource_id=server.pk, action="stop")
    run_queued()
    assert instance_state(moto, instance) == "stopped"


def test_observed_only_servers_are_metered_but_never_acted_on(demo, ec2, moto, org_admin):
    launch_outside_canopy(moto, "watched", **{"cost-center": "CC-100"})
    reconcile_accounts()
    [row] = adoptable_servers(user=org_admin)
    assert row.suggested == demo["web_shop"]  # by its cost center
    [server] = unknown_servers_adopt(
        user=org_admin, unknown_ids=[row.server.pk], project=row.suggested, observe_only=True
    )
    assert server.observe_only and server.events.filter(kind="created").exists()
    with pytest.raises(ValidationError, match="observed only"):
        resource_action_request(user=demo["alice"], resource_id=server.pk, action="stop")
    with pytest.raises(ValidationError, match="observed only"):
        order_destroy(user=demo["alice"], order_id=server.order_id)
    idle_policy(demo, notify_after=timedelta(0))
    assert reclaim_candidates(open_cases=set()) == []  # idle reclaim leaves it alone


def test_adoption_is_for_the_organizations_admins(demo, ec2, moto):
    launch_outside_canopy(moto, "legacy")
    reconcile_accounts()
    unknown = UnknownObject.objects.get(name="legacy")
    assert adoptable_servers(user=demo["alice"]) == []
    with pytest.raises(PermissionDenied, match="Only the organization's admins"):
        unknown_servers_adopt(
            user=demo["alice"], unknown_ids=[unknown.pk], project=demo["web_shop"]
        )
