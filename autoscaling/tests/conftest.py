"""Fixtures shared by autoscaling's test modules of several layers: web-shop and the autoscaling
web tier it orders."""

from decimal import Decimal

import pytest

from approvals.tests.factories import ApprovalPolicyFactory, QuotaFactory
from billing.tests.factories import BudgetFactory
from catalog.tests.factories import SandboxAccountFactory
from catalog.tests.helpers import default_item
from core.tests.factories import ProjectFactory, UserFactory


@pytest.fixture
def shop(db) -> dict:
    """web-shop: alice a member, bob its manager, a quota of 20 servers, a budget of 50 a month,
    the sandbox account with its prices and the default catalog's autoscaling web tier;
    deletions approve themselves. dave is a member of data-lab, another project of the
    organization."""
    alice, bob, dave = (UserFactory(username=name) for name in ["alice", "bob", "dave"])
    web_shop = ProjectFactory(name="web-shop", slug="web-shop", members=[alice], managers=[bob])
    organization = web_shop.organization
    SandboxAccountFactory(name="sandbox", organization=organization, projects=[web_shop])
    default_item("autoscaling-web-tier")
    QuotaFactory(project=web_shop, max_servers=20, max_vcpus=40)
    BudgetFactory(project=web_shop, monthly_amount=Decimal("50.00"))
    ApprovalPolicyFactory(
        name="Deletions",
        organization=organization,
        order_kinds=["destroy"],
        auto_approve_below=Decimal("0.01"),
    )
    return {
        "alice": alice,
        "bob": bob,
        "dave": dave,
        "web_shop": web_shop,
        "data_lab": ProjectFactory(organization=organization, slug="data-lab", members=[dave]),
    }
