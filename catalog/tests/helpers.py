"""Builders shared by catalog's test modules of several layers (their fixtures: conftest.py)."""

from decimal import Decimal

import yaml
from django.db.models import Sum
from django.test import Client

from approvals.models import ApprovalRequest, LedgerStatus, Quota, QuotaEntry
from billing.pricing import monthly_quote
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


def approve_as_bob(api_as, demo: dict, order: Order):
    """bob, web-shop's manager, approves the order's pending stage through the API."""
    answer = api_as(demo["bob"]).post(f"/api/v1/approvals/{order.approval.pk}/approve/", {})
    assert answer.status_code == 200, answer.content
    return answer


# --- change orders --------------------------------------------------------------------------


def provisioned(demo, slug: str, **parameters) -> Order:
    """alice's completed order of a catalog item in web-shop (approved as admission would)."""
    order = approved_order(demo, slug, **{**PROVISIONED_PARAMS, **parameters})
    order_deploy(order_id=order.pk)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed"
    return order


def server_price(size: str) -> Decimal:
    """The monthly price of one server of `size` on the demo's sandbox account."""
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
    entitlements name the demo's projects)."""
    [item] = [item for item in DEFAULT["items"] if item["slug"] == slug]
    item = {key: value for key, value in item.items() if key != "entitlements"}
    catalog_load(document={"categories": DEFAULT["categories"], "items": [item]})
    return CatalogItem.objects.get(slug=slug)


def approved_and_built(order: Order) -> Order:
    """What approval does next (the approvals app's concern): build it."""
    Order.objects.filter(pk=order.pk).update(status="approved")
    order.refresh_from_db()
    return deployed(order)
