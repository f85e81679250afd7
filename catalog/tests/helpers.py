"""Builders shared by catalog's test modules of several layers (their fixtures: conftest.py)."""

import copy
from decimal import Decimal

import yaml
from django.db.models import Sum
from django.test import Client

from approvals.models import ApprovalRequest, LedgerStatus, Quota, QuotaEntry
from approvals.tests.factories import ApprovalPolicyFactory, QuotaFactory
from approvals.tests.helpers import MANAGER, approvals_world
from billing.models import Unit
from billing.pricing import monthly_quote
from billing.tests.factories import (
    RateFactory,
)
from catalog.models import CatalogItem, Order
from catalog.orders import order_deploy
from catalog.services import DEFAULT_CATALOG, catalog_load
from catalog.tests.saga import approved_order, deploy_approved, run_queued
from core.models import Project
from provisioning.models import CloudAccount
from provisioning.providers.base import Option, SizeInfo
from provisioning.tests.helpers import deployed

# The default catalog as its YAML file says it (default_catalog.yaml).
DEFAULT = yaml.safe_load(DEFAULT_CATALOG.read_text())

# What the cloud of conftest's `other_account` offers (its sizes, images and locations).
OTHER_OPTIONS = {
    "locations": [Option("eu-west", "EU west")],
    "sizes": [SizeInfo("xlarge", 8, 32)],
    "images": [Option("debian-12", "Debian 12"), Option("rocky-9", "Rocky Linux 9")],
}

# The choices of a `provisioned` order (and of the server `server_price` prices).
PROVISIONED_PARAMS = {"size": "small", "image": "debian-12", "location": "sandbox-1a"}


# --- the world catalog's tests order in ---------------------------------------------------
# Beyond approvals' Acme: what its tiers and databases are priced at, and the changes' rule.
CATALOG_RATES = [
    ("network", "", Unit.HOUR, Decimal("0")),  # free, and priced: a missing price is refused
    ("database", "medium", Unit.HOUR, Decimal("0.10")),
    ("database", "large", Unit.HOUR, Decimal("0.20")),
]
SMALL_CHANGE = Decimal("20")  # a month: changes adding less approve themselves


def catalog_world() -> dict:
    """`approvals_world`'s Acme (people, projects, sandbox account, card, budgets, the order
    policies) as catalog's tests order in it: the default catalog, as `catalog_load` loads its
    file (its autoscaling-web-tier is entitled to web-shop; linux-vm is its item); the sandbox
    serving both projects; tiers and databases priced (CATALOG_RATES); quotas bounding both
    projects; changes adding under SMALL_CHANGE and deletions approving themselves, except a
    database's (bob decides)."""
    world = approvals_world()
    acme = world["organization"]
    world["sandbox"].projects.set([world["web_shop"], world["data_lab"]])
    for kind, size, unit, price in CATALOG_RATES:
        RateFactory(
            rate_card=world["rate_card"], resource_kind=kind, size=size, unit=unit, price=price
        )
    catalog_load(document=copy.deepcopy(DEFAULT))  # parsed once, at import
    QuotaFactory(project=world["web_shop"], max_servers=20, max_vcpus=40)
    QuotaFactory(project=world["data_lab"], max_servers=5, max_monthly_cost=Decimal("200"))
    ApprovalPolicyFactory(
        name="Acme small changes",
        organization=acme,
        order_kinds=["change"],
        max_cost_delta=SMALL_CHANGE,
        auto_approve_below=SMALL_CHANGE,
        stages=[MANAGER],
    )
    ApprovalPolicyFactory(
        name="Acme deletions",
        organization=acme,
        order_kinds=["destroy"],
        auto_approve_below=Decimal("0.01"),
        stages=[MANAGER],
    )
    ApprovalPolicyFactory(
        name="Acme database deletions",
        organization=acme,
        order_kinds=["destroy"],
        resource_kinds=["database"],
        stages=[MANAGER],
    )
    return {**world, "linux_vm": CatalogItem.objects.get(slug="linux-vm")}


def client_as(user) -> Client:
    """A Django test client (the HTML pages) signed in as `user`."""
    client = Client()
    client.force_login(user)
    return client


# --- approvals ------------------------------------------------------------------------------


def approval_of(answer) -> ApprovalRequest:
    """The approval request of the order an API answer (201) created."""
    assert answer.status_code == 201, answer.content
    return Order.objects.get(pk=answer.data["id"]).approval


def decide_via_api(client, approval: ApprovalRequest, verb: str, comment: str = ""):
    """`client` decides the approval's pending stage: verb `approve` or `reject`."""
    return client.post(f"/api/v1/approvals/{approval.pk}/{verb}/", {"comment": comment})


def approve_as_bob(api_as, world: dict, order: Order):
    """bob, web-shop's manager, approves the order's pending stage through the API."""
    answer = api_as(world["bob"]).post(f"/api/v1/approvals/{order.approval.pk}/approve/", {})
    assert answer.status_code == 200, answer.content
    return answer


# --- change orders --------------------------------------------------------------------------


def provisioned(world: dict, slug: str, **parameters) -> Order:
    """alice's completed order of a catalog item in web-shop (approved as admission would)."""
    order = approved_order(world, slug, **{**PROVISIONED_PARAMS, **parameters})
    order_deploy(order_id=order.pk)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed"
    return order


def server_price(size: str) -> Decimal:
    """The monthly price of one server of `size` on the sandbox account (the world's: RATES)."""
    account = CloudAccount.objects.get(name="sandbox")
    spec = {"kind": "server", "count": 1, "properties": {**PROVISIONED_PARAMS, "size": size}}
    return monthly_quote(cloud_account_id=account.pk, resources=[spec])


def decide_and_deploy(client, order_id: int, verdict: str = "approve", comment: str = ""):
    """Decide the order's pending stage as `client`, then play the worker that deploys what
    the decision approved (`catalog.tasks.deploy_order`)."""
    approval = ApprovalRequest.objects.get(order_id=order_id)
    answer = client.post(f"/api/v1/approvals/{approval.pk}/{verdict}/", {"comment": comment})
    deploy_approved()
    return answer


def reserved_vcpus() -> int:
    """The vCPUs the quota ledger holds reserved, all projects together."""
    rows = QuotaEntry.objects.filter(status=LedgerStatus.RESERVED)
    return rows.aggregate(total=Sum("vcpus"))["total"] or 0


# --- quotas ---------------------------------------------------------------------------------


def quota_limit(project: Project, **limits) -> Quota:
    """Set the project's quota limits (created if it has none)."""
    quota, _ = Quota.objects.update_or_create(project=project, defaults=limits)
    return quota


def servers_taken(status: str) -> int:
    """The servers the quota ledger counts in `status` (reserved, committed, …)."""
    return QuotaEntry.objects.filter(status=status).aggregate(n=Sum("servers"))["n"] or 0


# --- snapshots (catalog/tests/*/test_snapshots.py) ------------------------------------------


def default_item(slug: str) -> CatalogItem:
    """An item of the default catalog as `catalog_load` loads it, open to every project (its
    entitlements name Acme's projects)."""
    [item] = [item for item in DEFAULT["items"] if item["slug"] == slug]
    item = {key: value for key, value in item.items() if key != "entitlements"}
    catalog_load(document={"categories": DEFAULT["categories"], "items": [item]})
    return CatalogItem.objects.get(slug=slug)


def approved_and_built(order: Order) -> Order:
    """What approval does next (the approvals app's concern): build it."""
    Order.objects.filter(pk=order.pk).update(status="approved")
    order.refresh_from_db()
    return deployed(order)
