"""Lifecycle's test helpers, shared by its test modules (their fixtures: conftest.py): an order
carried through its saga to completed, its server and its prices, an organization-wide idle
policy, and a server launched at moto outside Canopy with the organization admin who adopts
it."""

from datetime import timedelta

from django.contrib.auth.models import User

from billing.pricing import HourlyPrice, PriceBook
from catalog.tests.saga import approved_order, run_queued
from core.models import OrganizationRole
from core.services import organization_membership_add
from lifecycle.models import IdlePolicy
from lifecycle.services.reclaim import idle_policy_save
from provisioning.models import Resource
from provisioning.services.saga import deployment_start
from provisioning.tests.plans import IMAGE
from tests.moto_server import boto

DAY = timedelta(days=1)


def completed(shop: dict, slug: str = "linux-vm", **parameters):
    order = approved_order(shop, slug, name=parameters.pop("name", "vm1"), **parameters)
    deployment_start(order=order)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed"
    return order


def server_of(order) -> Resource:
    return order.resources.get(kind="server")


def prices(server: Resource) -> HourlyPrice:
    return PriceBook([server.cloud_account_id]).hourly(
        cloud_account_id=server.cloud_account_id,
        kind="server",
        size=server.properties["size"],
        properties=server.properties,
    )


def idle_policy(shop: dict, **waits) -> IdlePolicy:
    return idle_policy_save(
        user=None,
        organization=shop["web_shop"].organization,
        fields={
            "name": "Acme idle",
            "cpu_below_percent": 5,
            "network_below_kbps": 100,
            "window": timedelta(hours=1),
            **waits,
        },
    )


WAITS = {
    "notify_after": timedelta(0),
    "stop_after": timedelta(hours=2),
    "retire_after": timedelta(hours=3),
    "delete_after": timedelta(hours=4),
}


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


def organization_admin(shop: dict) -> User:
    """dave (data-lab), made an admin of web-shop's organization: he adopts into web-shop."""
    organization_membership_add(
        user=shop["dave"], organization=shop["web_shop"].organization, role=OrganizationRole.ADMIN
    )
    return shop["dave"]
