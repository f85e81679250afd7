"""Lifecycle's test helpers, shared by its test modules: Acme's web-shop with the default
catalog's linux-vm and web-tier at list prices, an order carried through its saga to completed,
its server and its prices, an organization-wide idle policy, and a server launched at moto
outside Canopy (on an EC2 account at moto) with the organization admin who adopts it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User

from approvals.tests.factories import MANAGER_STAGE, ApprovalPolicyFactory, QuotaFactory
from billing.models import Unit
from billing.pricing import HourlyPrice, PriceBook
from billing.tests.factories import RateCardFactory, RateFactory
from catalog.tests.helpers import default_item
from catalog.tests.saga import approved_order, run_queued
from core.models import OrganizationRole
from core.services import organization_membership_add
from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory, finance_of
from lifecycle.models import IdlePolicy
from lifecycle.services.reclaim import idle_policy_save
from provisioning.models import CloudAccount, Resource
from provisioning.services.saga import deployment_start
from provisioning.tests.factories import CloudAccountFactory
from provisioning.tests.helpers import CLOUDWATCH, ec2_account
from provisioning.tests.plans import IMAGE
from tests.moto_server import boto

DAY = timedelta(days=1)

# List prices, hourly unless said (a month is 730 hours): a small server costs 14.60 a month, under
# the 20 a month a change may add and approve itself; a medium one 29.20, over it.
LIST_PRICES = [
    ("server", "small", Unit.HOUR, Decimal("0.02")),
    ("server", "medium", Unit.HOUR, Decimal("0.04")),
    ("server", "large", Unit.HOUR, Decimal("0.08")),
    ("network", "", Unit.HOUR, Decimal("0")),  # free, and priced: a missing price is refused
    ("volume", "", Unit.GB_MONTH, Decimal("0.10")),
    ("load_balancer", "", Unit.HOUR, Decimal("0.025")),
    ("dns_record", "", Unit.MONTH, Decimal("0.50")),
]
SMALL_CHANGE = Decimal("20")


@pytest.fixture(name="shop")
def shop_fixture(db) -> dict:
    """Acme: web-shop (cost center CC-100; alice a member, bob its manager, a quota of 20
    servers) and data-lab (dave a member), carol in finance, an administrator; the sandbox
    account serving web-shop at the organization's list prices; the default catalog's linux-vm
    and web-tier. Orders go to the manager; small changes and deletions approve themselves."""
    alice, bob, carol, dave = (UserFactory(username=n) for n in ["alice", "bob", "carol", "dave"])
    acme = OrganizationFactory(name="Acme", slug="acme")
    web_shop = ProjectFactory(
        organization=acme,
        name="web-shop",
        slug="web-shop",
        cost_center="CC-100",
        members=[alice],
        managers=[bob],
    )
    finance_of(acme, carol)
    CloudAccountFactory(name="sandbox", organization=acme).projects.set([web_shop])
    card = RateCardFactory(organization=acme)
    for kind, size, unit, price in LIST_PRICES:
        RateFactory(rate_card=card, resource_kind=kind, size=size, unit=unit, price=price)
    QuotaFactory(project=web_shop, max_servers=20, max_vcpus=40)
    ApprovalPolicyFactory(name="Standard", organization=acme, stages=[MANAGER_STAGE])
    ApprovalPolicyFactory(
        name="Small changes",
        organization=acme,
        order_kinds=["change"],
        max_cost_delta=SMALL_CHANGE,
        auto_approve_below=SMALL_CHANGE,
    )
    ApprovalPolicyFactory(
        name="Deletions",
        organization=acme,
        order_kinds=["destroy"],
        auto_approve_below=Decimal("0.01"),
    )
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "dave": dave,
        "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
        "web_shop": web_shop,
        "data_lab": ProjectFactory(
            organization=acme, name="data-lab", slug="data-lab", members=[dave]
        ),
        "linux_vm": default_item("linux-vm"),
        "web_tier": default_item("web-tier"),
    }


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


@pytest.fixture(name="ec2")
def ec2_fixture(shop: dict, moto: str) -> CloudAccount:
    """Acme's EC2 account at moto (metrics from CloudWatch), offered to web-shop."""
    account = ec2_account(shop["web_shop"].organization, moto, **CLOUDWATCH)
    account.projects.add(shop["web_shop"])
    return account
