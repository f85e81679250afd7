"""Quotas are a ledger: reserve on admission, commit when provisioned, release on reject, cancel,
failure or deletion; an order over quota is refused (or routed to an extra stage)."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum

from approvals.models import ApprovalPolicy, LedgerStatus, OverQuotaAction, Quota, QuotaEntry
from approvals.selectors.quota import quota_effect
from approvals.services.quota import day2_admit
from billing.pricing import monthly_quote
from catalog.models import Order
from catalog.orders import order_admit
from catalog.selectors.menu import resolve_resources
from catalog.services import order_submit
from core.models import Notification
from provisioning.models import Resource, Step
from provisioning.selectors import cloud_account_for_project
from provisioning.services.saga import step_execute
from tests.fixtures import order_via_api
from tests.saga import admit_and_deploy, deploy_approved


def _limit(project, **limits) -> Quota:
    quota, _ = Quota.objects.update_or_create(project=project, defaults=limits)
    return quota


def _taken(status: str) -> int:
    return QuotaEntry.objects.filter(status=status).aggregate(n=Sum("servers"))["n"] or 0


@pytest.mark.django_db
def test_over_quota_order_is_refused_with_its_reason(demo, api_as):
    _limit(demo["web_shop"], max_servers=20, max_vcpus=3)
    alice = api_as(demo["alice"])
    assert order_via_api(alice, demo, size="medium").status_code == 201  # 2 of 3 vCPUs
    refused = order_via_api(alice, demo, name="web-2", size="medium")
    assert refused.status_code == 400
    (message,) = refused.json()["quota"]
    assert message == "Over the vCPU quota of web-shop: this needs 2, 2 of 3 are already taken."
    assert Order.objects.count() == 1  # the refused order left nothing behind


@pytest.mark.django_db
def test_over_quota_order_can_be_routed_to_an_extra_stage(demo, api_as):
    _limit(demo["web_shop"], max_servers=0)
    ApprovalPolicy.objects.filter(name="Acme standard").update(
        over_quota_action=OverQuotaAction.EXTRA_STAGE, over_quota_role="finance"
    )
    answer = order_via_api(api_as(demo["alice"]), demo)
    assert answer.status_code == 201
    approval = Order.objects.get(pk=answer.data["id"]).approval
    assert [s.name for s in approval.stages.all()] == ["Manager", "Over quota"]
    api_as(demo["bob"]).post(f"/api/v1/approvals/{approval.pk}/approve/", {})
    answer = api_as(demo["carol"]).post(f"/api/v1/approvals/{approval.pk}/approve/", {})
    assert answer.json()["status"] == "approved"


@pytest.mark.django_db
def test_order_over_a_refusing_budget_is_refused_or_routed(demo, api_as):
    from billing.models import Budget

    Budget.objects.filter(project=demo["web_shop"]).update(
        monthly_amount=Decimal("1.00"), refuse_orders_over_budget=True
    )
    refused = order_via_api(api_as(demo["alice"]), demo, size="large")
    assert refused.status_code == 400 and "over its budget" in refused.json()["budget"][0]
    ApprovalPolicy.objects.filter(name="Acme standard").update(
        over_quota_action=OverQuotaAction.EXTRA_STAGE
    )
    answer = order_via_api(api_as(demo["alice"]), demo, size="large")
    approval = Order.objects.get(pk=answer.data["id"]).approval
    assert [s.name for s in approval.stages.all()] == ["Manager", "Finance", "Over budget"]


@pytest.mark.django_db
def test_ledger_reserves_commits_and_releases(demo, api_as):
    alice, bob = api_as(demo["alice"]), api_as(demo["bob"])
    kept = Order.objects.get(pk=order_via_api(alice, demo).data["id"])
    dropped = Order.objects.get(pk=order_via_api(alice, demo, name="web-2").data["id"])
    assert _taken(LedgerStatus.RESERVED) == 2
    bob.post(f"/api/v1/approvals/{dropped.approval.pk}/reject/", {"comment": "no"})
    assert _taken(LedgerStatus.RESERVED) == 1

    bob.post(f"/api/v1/approvals/{kept.approval.pk}/approve/", {})
    deploy_approved()
    for step in Step.objects.all():
        step_execute(step_id=step.pk)
    kept.refresh_from_db()
    assert kept.status == "completed"
    assert (_taken(LedgerStatus.RESERVED), _taken(LedgerStatus.COMMITTED)) == (0, 1)
    resource = Resource.objects.get(order=kept)
    committed = QuotaEntry.objects.get(status=LedgerStatus.COMMITTED)
    assert (committed.resource, committed.vcpus, committed.ram_gb) == (resource, 1, Decimal("2"))
    quota = alice.get(f"/api/v1/projects/{demo['web_shop'].pk}/quota/").json()
    assert quota["used"]["servers"] == 1 and quota["reserved"]["servers"] == 0

    destroy = alice.post(f"/api/v1/resources/{resource.pk}/actions/", {"action": "destroy"})
    admit_and_deploy(destroy.data["id"])  # a destroy order: "Acme deletions" approves it at once
    for step in Step.objects.filter(deployment__change_order=destroy.data["id"]):
        step_execute(step_id=step.pk)
    assert _taken(LedgerStatus.COMMITTED) == 0


@pytest.mark.django_db
def test_cancelled_order_releases_its_reservation(demo, api_as):
    alice = api_as(demo["alice"])
    order = Order.objects.get(pk=order_via_api(alice, demo).data["id"])
    assert alice.post(f"/api/v1/orders/{order.pk}/cancel/").status_code == 200
    assert _taken(LedgerStatus.RESERVED) == 0
    order.approval.refresh_from_db()
    assert order.approval.status == "cancelled"


@pytest.mark.django_db
def test_quota_effect_for_the_quote(demo):
    _limit(demo["web_shop"], max_servers=20, max_vcpus=5)
    account = cloud_account_for_project(project=demo["web_shop"])
    specs = resolve_resources(item=demo["linux_vm"], parameters={"name": "a", "size": "large"})
    messages = quota_effect(project=demo["web_shop"], cloud_account=account, resources=specs)
    assert "this order puts web-shop at 80 % of its vCPU quota" in messages
    assert "this order puts web-shop at 5 % of its server quota" in messages
    _limit(demo["web_shop"], max_vcpus=3)
    messages = quota_effect(project=demo["web_shop"], cloud_account=account, resources=specs)
    assert "this order exceeds web-shop's vCPU quota (4 of 3)" in messages


@pytest.mark.django_db
def test_quota_effect_counts_the_price_it_is_given(demo):
    """A caller that priced the order already passes the price; the spend quota counts it."""
    account = cloud_account_for_project(project=demo["web_shop"])
    specs = resolve_resources(item=demo["linux_vm"], parameters={"name": "a", "size": "large"})
    price = monthly_quote(cloud_account_id=account.pk, resources=specs)
    _limit(demo["web_shop"], max_monthly_cost=price * 4)

    def spend(**given) -> list[str]:
        messages = quota_effect(
            project=demo["web_shop"], cloud_account=account, resources=specs, **given
        )
        return [message for message in messages if "monthly spend" in message]

    assert spend() == spend(monthly_cost=price)
    assert spend() == ["this order puts web-shop at 25 % of its monthly spend quota"]
    assert spend(monthly_cost=price * 2) == [
        "this order puts web-shop at 50 % of its monthly spend quota"
    ]


@pytest.mark.django_db
def test_day2_resize_is_admitted_against_the_quota(demo, api_as):
    _limit(demo["web_shop"], max_servers=20, max_vcpus=3)
    order = Order.objects.get(pk=order_via_api(api_as(demo["alice"]), demo).data["id"])
    api_as(demo["bob"]).post(f"/api/v1/approvals/{order.approval.pk}/approve/", {})
    deploy_approved()  # the worker plans the deployment
    for step in Step.objects.all():
        step_execute(step_id=step.pk)
    resource = Resource.objects.get(order=order)
    day2_admit(user=demo["alice"], resource=resource, action="resize", params={"size": "medium"})
    assert (
        QuotaEntry.objects.filter(status=LedgerStatus.COMMITTED).aggregate(v=Sum("vcpus"))["v"] == 2
    )
    with pytest.raises(ValidationError) as refused:
        day2_admit(user=demo["alice"], resource=resource, action="resize", params={"size": "large"})
    assert "vCPU quota" in refused.value.message_dict["quota"][0]


@pytest.mark.django_db
def test_quota_api_read_and_patch(demo, api_as):
    url = f"/api/v1/projects/{demo['web_shop'].pk}/quota/"
    assert api_as(demo["alice"]).patch(url, {"max_servers": 3}, format="json").status_code == 403
    assert api_as(demo["dave"]).get(url).status_code == 404  # not his project
    admin = api_as(demo["admin"])
    answer = admin.patch(url, {"max_servers": 3, "max_monthly_cost": None}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["max_servers"] == 3 and answer.json()["max_monthly_cost"] is None
    assert admin.patch(url, {"max_servers": -1}, format="json").status_code == 400
    listed = api_as(demo["alice"]).get("/api/v1/quotas/").json()["results"]
    assert [q["max_servers"] for q in listed if q["project"] == demo["web_shop"].pk] == [3]


@pytest.mark.django_db(transaction=True)
def test_forty_concurrent_orders_against_ten_servers(demo):
    """Forty threads submit at once, each on its own connection: nothing is reserved yet, so the
    lock-free check at submission lets all of them through. Then forty admissions race as
    workers would: the quota row lock lets exactly ten in and rejects the others with the quota
    message. Once the quota is full, the check at submission refuses at once.
    (On SQLite the IMMEDIATE transactions serialize the writers instead.)"""
    _limit(demo["web_shop"], max_servers=10, max_vcpus=None)
    start, admitted = threading.Barrier(40, timeout=60), threading.Barrier(40, timeout=60)
    outcomes: list[str] = []

    def submit_then_admit(index: int) -> None:
        try:
            start.wait()
            order = order_submit(
                user=demo["alice"],
                item=demo["linux_vm"],
                project=demo["web_shop"],
                parameters={"name": f"vm-{index}", "size": "small"},
            )
            admitted.wait()
            order = order_admit(order_id=order.pk)
            outcomes.append(
                "admitted" if order.status == "pending_approval" else order.status_message
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_then_admit, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("admitted") == 10
    refusals = [o for o in outcomes if o != "admitted"]
    assert len(refusals) == 30
    assert all(o.startswith("Over the server quota of web-shop") for o in refusals)
    assert Order.objects.filter(status="pending_approval").count() == 10
    assert Order.objects.filter(status="rejected").count() == 30
    assert (
        Notification.objects.filter(
            user=demo["alice"], subject__endswith=": refused", body__startswith="Over the server"
        ).count()
        == 30
    )
    assert _taken(LedgerStatus.RESERVED) == 10
    assert set(
        QuotaEntry.objects.filter(status=LedgerStatus.RESERVED).values_list("order", flat=True)
    ) == set(Order.objects.filter(status="pending_approval").values_list("pk", flat=True))

    with pytest.raises(ValidationError) as refused:
        order_submit(
            user=demo["alice"],
            item=demo["linux_vm"],
            project=demo["web_shop"],
            parameters={"name": "vm-41", "size": "small"},
        )
    (message,) = refused.value.message_dict["quota"]
    assert message == "Over the server quota of web-shop: this needs 1, 10 of 10 are already taken."
    assert Order.objects.count() == 40
