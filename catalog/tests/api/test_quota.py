"""Quotas through the API: the ledger reserves on admission, commits when provisioned, releases
on reject, cancel or deletion; an order over quota or budget is refused (or routed to an extra
stage)."""

from decimal import Decimal

import pytest

from approvals.models import ApprovalPolicy, LedgerStatus, OverQuotaAction, QuotaEntry
from billing.models import Budget
from catalog.models import Order
from catalog.tests.helpers import quota_limit, servers_taken
from catalog.tests.saga import admit_and_deploy, deploy_approved
from provisioning.models import Resource, Step
from provisioning.services.saga import step_execute
from tests.fixtures import order_via_api


@pytest.mark.django_db
def test_over_quota_order_is_refused_with_its_reason(world, api_as):
    quota_limit(world["web_shop"], max_servers=20, max_vcpus=3)
    alice = api_as(world["alice"])
    assert order_via_api(alice, world, size="medium").status_code == 201  # 2 of 3 vCPUs
    refused = order_via_api(alice, world, name="web-2", size="medium")
    assert refused.status_code == 400
    (message,) = refused.json()["quota"]
    assert message == "Over the vCPU quota of web-shop: this needs 2, 2 of 3 are already taken."
    assert Order.objects.count() == 1  # the refused order left nothing behind


@pytest.mark.django_db
def test_over_quota_order_can_be_routed_to_an_extra_stage(world, api_as):
    quota_limit(world["web_shop"], max_servers=0)
    ApprovalPolicy.objects.filter(name="Acme standard").update(
        over_quota_action=OverQuotaAction.EXTRA_STAGE, over_quota_role="finance"
    )
    answer = order_via_api(api_as(world["alice"]), world)
    assert answer.status_code == 201
    approval = Order.objects.get(pk=answer.data["id"]).approval
    assert [s.name for s in approval.stages.all()] == ["Manager", "Over quota"]
    api_as(world["bob"]).post(f"/api/v1/approvals/{approval.pk}/approve/", {})
    answer = api_as(world["carol"]).post(f"/api/v1/approvals/{approval.pk}/approve/", {})
    assert answer.json()["status"] == "approved"


@pytest.mark.django_db
def test_order_over_a_refusing_budget_is_refused_or_routed(world, api_as):
    Budget.objects.filter(project=world["web_shop"]).update(
        monthly_amount=Decimal("1.00"), refuse_orders_over_budget=True
    )
    refused = order_via_api(api_as(world["alice"]), world, size="large")
    assert refused.status_code == 400 and "over its budget" in refused.json()["budget"][0]
    ApprovalPolicy.objects.filter(name="Acme standard").update(
        over_quota_action=OverQuotaAction.EXTRA_STAGE
    )
    answer = order_via_api(api_as(world["alice"]), world, size="large")
    approval = Order.objects.get(pk=answer.data["id"]).approval
    assert [s.name for s in approval.stages.all()] == ["Manager", "Finance", "Over budget"]


@pytest.mark.django_db
def test_ledger_reserves_commits_and_releases(world, api_as):
    alice, bob = api_as(world["alice"]), api_as(world["bob"])
    kept = Order.objects.get(pk=order_via_api(alice, world).data["id"])
    dropped = Order.objects.get(pk=order_via_api(alice, world, name="web-2").data["id"])
    assert servers_taken(LedgerStatus.RESERVED) == 2
    bob.post(f"/api/v1/approvals/{dropped.approval.pk}/reject/", {"comment": "no"})
    assert servers_taken(LedgerStatus.RESERVED) == 1

    bob.post(f"/api/v1/approvals/{kept.approval.pk}/approve/", {})
    deploy_approved()
    for step in Step.objects.all():
        step_execute(step_id=step.pk)
    kept.refresh_from_db()
    assert kept.status == "completed"
    assert (servers_taken(LedgerStatus.RESERVED), servers_taken(LedgerStatus.COMMITTED)) == (0, 1)
    resource = Resource.objects.get(order=kept)
    committed = QuotaEntry.objects.get(status=LedgerStatus.COMMITTED)
    assert (committed.resource, committed.vcpus, committed.ram_gb) == (resource, 1, Decimal("2"))
    quota = alice.get(f"/api/v1/projects/{world['web_shop'].pk}/quota/").json()
    assert quota["used"]["servers"] == 1 and quota["reserved"]["servers"] == 0

    destroy = alice.post(f"/api/v1/resources/{resource.pk}/actions/", {"action": "destroy"})
    admit_and_deploy(destroy.data["id"])  # a destroy order: "Acme deletions" approves it at once
    for step in Step.objects.filter(deployment__change_order=destroy.data["id"]):
        step_execute(step_id=step.pk)
    assert servers_taken(LedgerStatus.COMMITTED) == 0


@pytest.mark.django_db
def test_cancelled_order_releases_its_reservation(world, api_as):
    alice = api_as(world["alice"])
    order = Order.objects.get(pk=order_via_api(alice, world).data["id"])
    assert alice.post(f"/api/v1/orders/{order.pk}/cancel/").status_code == 200
    assert servers_taken(LedgerStatus.RESERVED) == 0
    order.approval.refresh_from_db()
    assert order.approval.status == "cancelled"
