"""Every change is an order: day-2 changes of cost or capacity and destroys are priced, admitted
against the quota and budget, approved under Acme's policies and only then carried out by
provisioning's sagas; immediate actions stay immediate."""

from decimal import Decimal

import pytest

from approvals.models import ApprovalRequest, LedgerStatus, Quota, QuotaEntry
from billing.models import Budget
from catalog.models import Order
from catalog.tests.helpers import (
    decide_and_deploy,
    provisioned,
    reserved_vcpus,
    run_queued,
    server_price,
)
from catalog.tests.saga import admit_and_deploy
from core.models import AuditEvent, Notification
from provisioning.models import Deployment, Resource, SandboxObject
from provisioning.services.day2 import resource_action_request

pytestmark = pytest.mark.django_db


def test_a_resize_to_large_is_priced_then_goes_to_bob_and_finance_before_it_runs(world, api_as):
    alice, bob, carol = (api_as(world[name]) for name in ("alice", "bob", "carol"))
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    delta = server_price("large") - server_price("small")

    quote = alice.post(
        "/api/v1/orders/quote/",
        {"resource": server.pk, "action": "resize", "size": "large"},
        format="json",
    )
    assert quote.status_code == 200, quote.content
    assert Decimal(quote.data["monthly_cost_delta"]) == delta
    assert Decimal(quote.data["estimated_monthly_cost"]) == server_price("large")
    assert quote.data["summary"] == "Change: resize web-1 to large"
    assert "Manager (bob) then Finance (carol)" in quote.data["approval"]
    assert not Order.objects.filter(kind="change").exists()  # a quote orders nothing

    answer = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    assert answer.status_code == 202, answer.content
    assert (answer.data["kind"], answer.data["status"]) == ("change", "submitted")
    assert Decimal(answer.data["monthly_cost_delta"]) == delta
    change_id = answer.data["id"]
    admit_and_deploy(change_id)
    change = Order.objects.get(pk=change_id)
    assert change.status == "pending_approval"
    assert change.approval.policy_name == "Acme standard"
    assert [s.name for s in change.approval.stages.all()] == ["Manager", "Finance"]
    assert Notification.objects.filter(user=world["bob"], subject__contains="resize web-1").exists()

    assert decide_and_deploy(bob, change_id).status_code == 200
    server.refresh_from_db()
    assert (server.properties["size"], server.state) == ("small", "active")
    assert decide_and_deploy(carol, change_id).status_code == 200
    change.refresh_from_db()
    assert change.status == "provisioning"
    run_queued()
    change.refresh_from_db()
    server.refresh_from_db()
    assert change.status == "completed"
    assert (server.properties["size"], server.state) == ("large", "active")
    assert SandboxObject.objects.get(name=server.canopy_tag).size == "large"
    # One trail: the change order's events and the resource's, under the change order.
    assert AuditEvent.objects.filter(order_id=change_id, action="approval.decided").exists()
    committed = QuotaEntry.objects.get(order=change, status=LedgerStatus.COMMITTED)
    assert (committed.resource_id, committed.monthly_cost) == (server.pk, delta)
    listed = alice.get("/api/v1/orders/?kind=change").json()["results"]
    assert [(o["id"], o["summary"]) for o in listed] == [
        (change_id, "Change: resize web-1 to large")
    ]


def test_a_small_volume_extend_is_approved_by_the_policy(world, api_as):
    alice = api_as(world["alice"])
    order = provisioned(world, "block-volume", name="files", size_gb=10)
    volume = order.resources.get(kind="volume")
    answer = alice.post(
        f"/api/v1/resources/{volume.pk}/actions/", {"action": "extend", "size_gb": 50}
    )
    assert answer.status_code == 202, answer.content
    assert Decimal("0") < Decimal(answer.data["monthly_cost_delta"]) < Decimal("20")
    admit_and_deploy(answer.data["id"])
    change = Order.objects.get(pk=answer.data["id"])
    assert change.status == "provisioning"
    assert change.approval.policy_name == "Acme small changes"
    assert change.approval.decided_by is None  # the policy decided
    run_queued()
    change.refresh_from_db()
    volume.refresh_from_db()
    assert change.status == "completed" and volume.properties["size_gb"] == 50


def test_a_database_destroy_waits_for_the_manager(world, api_as):
    alice, bob = api_as(world["alice"]), api_as(world["bob"])
    database = (
        provisioned(world, "postgresql-db", name="orders", db_name="orders", storage_gb=20)
        .resources.filter(kind="database")
        .get()
    )
    answer = alice.post(f"/api/v1/resources/{database.pk}/actions/", {"action": "destroy"})
    assert answer.status_code == 202, answer.content
    assert answer.data["kind"] == "destroy"
    assert Decimal(answer.data["monthly_cost_delta"]) < 0
    admit_and_deploy(answer.data["id"])
    change = Order.objects.get(pk=answer.data["id"])
    assert change.status == "pending_approval"
    assert change.approval.policy_name == "Acme database deletions"
    assert list(change.approval.current_stage.approvers.all()) == [world["bob"]]
    database.refresh_from_db()
    assert database.state == "active"

    assert decide_and_deploy(bob, change.pk).status_code == 200
    run_queued()
    change.refresh_from_db()
    assert change.status == "completed"
    assert set(Resource.objects.filter(parent=database).values_list("state", flat=True)) == {
        "deleted"
    }
    database.refresh_from_db()
    assert database.state == "deleted"


def test_other_deletions_are_approved_at_once_and_a_whole_order_too(world, api_as):
    alice = api_as(world["alice"])
    order = provisioned(world, "linux-vm", name="web-1")
    answer = alice.post(f"/api/v1/orders/{order.pk}/destroy/")
    assert answer.status_code == 202, answer.content
    assert answer.data["summary"] == f"Destroy: order #{order.pk} (Linux VM)"
    admit_and_deploy(answer.data["id"])
    run_queued()
    change = Order.objects.get(pk=answer.data["id"])
    assert change.status == "completed"
    assert change.approval.policy_name == "Acme deletions"
    assert order.resources.get().state == "deleted"


def test_immediate_actions_answer_200_with_their_step(world, api_as):
    alice = api_as(world["alice"])
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    answer = alice.post(f"/api/v1/resources/{server.pk}/actions/", {"action": "stop"})
    assert answer.status_code == 200, answer.content
    assert answer.data["action"] == "stop"
    run_queued()
    server.refresh_from_db()
    assert server.state == "stopped"
    assert not Order.objects.filter(kind__in=["change", "destroy"]).exists()


def test_a_second_change_while_one_is_pending_is_refused(world, api_as):
    alice = api_as(world["alice"])
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    first = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    assert first.status_code == 202
    second = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "medium"}
    )
    assert second.status_code == 400
    assert second.json()["action"] == [
        f"Order #{first.data['id']} (Change: resize web-1 to large) is submitted for this "
        "already: wait for it to finish, or cancel it."
    ]
    destroy = alice.post(f"/api/v1/resources/{server.pk}/actions/", {"action": "destroy"})
    assert destroy.status_code == 400


def test_a_change_over_the_quota_is_refused_like_an_order(world, api_as):
    alice = api_as(world["alice"])
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    Quota.objects.filter(project=world["web_shop"]).update(max_vcpus=1)
    answer = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    assert answer.status_code == 400
    assert "Over the vCPU quota of web-shop" in answer.json()["quota"][0]
    assert not Order.objects.filter(kind="change").exists()


def test_a_rejected_change_leaves_the_resource_and_releases_its_reservation(world, api_as):
    alice, bob = api_as(world["alice"]), api_as(world["bob"])
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    before = reserved_vcpus()
    answer = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    admit_and_deploy(answer.data["id"])
    assert reserved_vcpus() > before  # the extra vCPUs are held while bob decides
    assert decide_and_deploy(bob, answer.data["id"], "reject", "too big").status_code == 200
    change = Order.objects.get(pk=answer.data["id"])
    assert (change.status, change.status_message) == ("rejected", "too big")
    assert reserved_vcpus() == before
    server.refresh_from_db()
    assert (server.properties["size"], server.state) == ("small", "active")
    assert not Deployment.objects.filter(change_order=change).exists()


def test_a_pending_change_can_be_cancelled(world, api_as):
    alice = api_as(world["alice"])
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    before = reserved_vcpus()
    answer = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    admit_and_deploy(answer.data["id"])
    cancelled = alice.post(f"/api/v1/orders/{answer.data['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.data["status"] == "cancelled"
    assert reserved_vcpus() == before
    assert ApprovalRequest.objects.get(order_id=answer.data["id"]).status == "cancelled"
    again = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "medium"}
    )
    assert again.status_code == 202  # nothing is pending any more


def test_a_groups_desired_count_and_bounds_are_ordered_and_its_engine_stays_immediate(
    world, api_as
):
    alice, bob, carol = (api_as(world[name]) for name in ("alice", "bob", "carol"))
    order = provisioned(world, "autoscaling-web-tier", name="shop", instances=1, max_instances=4)
    group = order.resources.get(kind="autoscaling_group")
    one_server = server_price("small")

    quote = alice.post(
        "/api/v1/orders/quote/",
        {"resource": group.pk, "action": "set_bounds", "min": 1, "max": 8},
        format="json",
    )
    assert quote.status_code == 200, quote.content
    # The ceiling of the group's bill moves with its maximum: 4 more servers at most.
    assert Decimal(quote.data["monthly_cost_delta"]) == 4 * one_server
    bounds = alice.post(
        f"/api/v1/resources/{group.pk}/actions/", {"action": "set_bounds", "min": 1, "max": 8}
    )
    assert bounds.status_code == 202, bounds.content
    assert bounds.data["summary"] == "Change: bounds of shop-web to min 1, max 8"
    admit_and_deploy(bounds.data["id"])
    group.refresh_from_db()
    assert group.properties["max"] == 4  # not before approval
    # Adding more than 20/month at most, to a ceiling above 50/month: bob, then Finance.
    assert 8 * one_server > 50
    approval = ApprovalRequest.objects.get(order_id=bounds.data["id"])
    assert [s.name for s in approval.stages.all()] == ["Manager", "Finance"]
    decide_and_deploy(bob, bounds.data["id"])
    decide_and_deploy(carol, bounds.data["id"])
    group.refresh_from_db()
    assert (group.properties["min"], group.properties["max"]) == (1, 8)
    assert Order.objects.get(pk=bounds.data["id"]).status == "completed"

    desired = alice.post(
        f"/api/v1/resources/{group.pk}/actions/", {"action": "set_desired", "desired": 2}
    )
    assert desired.status_code == 202
    admit_and_deploy(desired.data["id"])  # one more small server: under 20/month, approved at once
    run_queued()
    group.refresh_from_db()
    assert group.properties["desired"] == 2
    assert Order.objects.get(pk=desired.data["id"]).status == "completed"

    # The engine's own scaling within the bounds is no order: it runs at once.
    resource_action_request(
        user=None, resource_id=group.pk, action="set_desired", params={"desired": 3}
    )
    run_queued()
    group.refresh_from_db()
    assert group.properties["desired"] == 3
    assert Order.objects.filter(kind="change").count() == 2


def test_a_change_over_a_refusing_budget_is_refused_and_a_saving_one_is_not(world, api_as):
    alice = api_as(world["alice"])
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    Budget.objects.filter(project=world["web_shop"]).update(
        monthly_amount=Decimal("0.01"), refuse_orders_over_budget=True
    )
    answer = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    assert answer.status_code == 400
    assert "over its budget" in answer.json()["budget"][0]
    destroy = alice.post(f"/api/v1/resources/{server.pk}/actions/", {"action": "destroy"})
    assert destroy.status_code == 202  # it lowers the bill: no budget refuses it
