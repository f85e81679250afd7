"""Autoscaling's test helpers: web-shop and the autoscaling web tier it orders; a group behind its
load balancer, deployed by the saga played in the test process; its running servers and its load
balancer's members (the two must agree whenever no saga runs); and the CPU policy the tests
scale by."""

from datetime import timedelta
from decimal import Decimal

import pytest

from approvals.tests.factories import ApprovalPolicyFactory, QuotaFactory
from autoscaling.selectors import group_size
from billing.tests.factories import BudgetFactory
from catalog.tests.factories import SandboxAccountFactory
from catalog.tests.helpers import default_item
from catalog.tests.saga import approved_order, run_queued
from core.tests.factories import ProjectFactory, UserFactory
from provisioning.models import Resource, SandboxObject
from provisioning.services.saga import deployment_start

MINUTE = timedelta(minutes=1)
POLICY = {
    "metric": "cpu",
    "scale_out_threshold": 70,
    "scale_out_window": 3,
    "scale_in_threshold": 30,
    "scale_in_window": 4,
    "step": 1,
    "cooldown": 5,
}


@pytest.fixture(name="shop")
def shop_fixture(db) -> dict:
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


def active_servers(group: Resource) -> set[str]:
    return set(group.children.filter(state="active").values_list("external_id", flat=True))


def balancer_members(group: Resource) -> set[str]:
    balancer = group.order.resources.get(kind="load_balancer")
    cloud = SandboxObject.objects.get(external_id=balancer.external_id)
    return {member["id"] for member in cloud.attributes["members"]}


def scaling_group(shop: dict) -> Resource:
    """shop-web: 1 server (min 1, max 4) behind shop-lb."""
    order = approved_order(shop, "autoscaling-web-tier", name="shop", instances=1, max_instances=4)
    deployment_start(order=order)
    run_queued()
    return order.resources.get(kind="autoscaling_group")


def settle_and_check(group: Resource) -> None:
    """Run the scaling saga to its end; the members must then be exactly the active servers."""
    run_queued()
    group.refresh_from_db()
    assert group.state == "active"
    assert balancer_members(group) == active_servers(group)
    assert len(active_servers(group)) == group_size(group=group) == group.properties["desired"]
