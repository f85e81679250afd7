"""Fixtures shared by lifecycle's test modules of several layers: Acme's web-shop with the
default catalog's linux-vm and web-tier at list prices, and its EC2 account at moto."""

from decimal import Decimal

import pytest

from approvals.tests.factories import MANAGER_STAGE, ApprovalPolicyFactory, QuotaFactory
from billing.models import Unit
from billing.tests.factories import RateCardFactory, RateFactory
from catalog.tests.helpers import default_item
from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory, finance_of
from provisioning.models import CloudAccount
from provisioning.tests.factories import CloudAccountFactory
from provisioning.tests.helpers import CLOUDWATCH, ec2_account

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


@pytest.fixture
def shop(db) -> dict:
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


@pytest.fixture
def ec2(shop: dict, moto: str) -> CloudAccount:
    """Acme's EC2 account at moto (metrics from CloudWatch), offered to web-shop."""
    account = ec2_account(shop["web_shop"].organization, moto, **CLOUDWATCH)
    account.projects.add(shop["web_shop"])
    return account
