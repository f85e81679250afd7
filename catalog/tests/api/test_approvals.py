"""Approvals through the API: chains of stages decided in turn, four eyes, delegation, and lists
whose query count does not grow with their length."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals.models import ApprovalDecision, ApproverRole
from approvals.services.policies import policy_save
from catalog.models import Order
from catalog.tests.helpers import approval_of, decide_via_api
from core.models import AuditEvent, OrganizationRole
from core.services import organization_membership_add
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_big_order_runs_manager_then_finance(world, api_as):
    alice, bob, carol = (api_as(world[name]) for name in ("alice", "bob", "carol"))
    approval = approval_of(order_via_api(alice, world, size="large"))
    assert approval.order.estimated_monthly_cost > Decimal("50")
    assert carol.get("/api/v1/approvals/inbox/").json()["count"] == 0  # not her turn yet
    assert decide_via_api(carol, approval, "approve").status_code in (403, 404)

    answer = decide_via_api(bob, approval, "approve", "fine by me")
    assert answer.status_code == 200
    assert answer.json()["current_stage"] == 2 and answer.json()["status"] == "pending"
    assert bob.get("/api/v1/approvals/inbox/").json()["count"] == 0
    assert carol.get("/api/v1/approvals/inbox/").json()["count"] == 1
    answer = decide_via_api(carol, approval, "approve", "budget ok")
    assert answer.json()["status"] == "approved"
    order = alice.get(f"/api/v1/orders/{approval.order_id}/").json()
    assert order["status"] in ("approved", "provisioning")
    assert "stages" not in answer.json()  # a decision's answer leaves the chain to the detail
    chain = bob.get(f"/api/v1/approvals/{approval.pk}/").json()["stages"]
    assert [s["decisions"][0]["user"] for s in chain] == ["bob", "carol"]


def test_rejection_at_the_second_stage_ends_the_order(world, api_as):
    approval = approval_of(order_via_api(api_as(world["alice"]), world, size="large"))
    decide_via_api(api_as(world["bob"]), approval, "approve")
    answer = decide_via_api(api_as(world["carol"]), approval, "reject", "over budget")
    assert answer.json()["status"] == "rejected"
    order = Order.objects.get(pk=approval.order_id)
    assert (order.status, order.status_message) == ("rejected", "over budget")


def test_four_eyes_distinct_people_per_stage(world, api_as):
    """bob is manager and (here) finance too: with distinct approvers he decides one stage only."""
    organization_membership_add(
        user=world["bob"],
        organization=world["web_shop"].organization,
        role=OrganizationRole.FINANCE,
    )
    bob = api_as(world["bob"])
    approval = approval_of(order_via_api(api_as(world["alice"]), world, size="large"))
    assert decide_via_api(bob, approval, "approve").status_code == 200
    assert decide_via_api(bob, approval, "approve").status_code == 403
    assert bob.get("/api/v1/approvals/inbox/").json()["count"] == 0
    assert (
        decide_via_api(api_as(world["carol"]), approval, "approve").json()["status"] == "approved"
    )


def test_the_requester_never_decides_even_holding_the_role(world, api_as):
    organization_membership_add(
        user=world["alice"],
        organization=world["web_shop"].organization,
        role=OrganizationRole.ADMIN,
    )
    alice = api_as(world["alice"])
    approval = approval_of(order_via_api(alice, world))
    assert world["alice"] not in approval.current_stage.approvers.all()
    assert decide_via_api(alice, approval, "approve").status_code == 404


def test_group_stage_in_all_mode_needs_every_member(world, api_as, django_user_model):
    group = Group.objects.create(name="change board")
    erin = django_user_model.objects.create_user("erin", "erin@acme.example", "pw")
    group.user_set.add(world["carol"], erin)
    policy_save(
        policy=None,
        fields={"name": "Board", "project": world["web_shop"]},
        stages=[
            {"name": "Change board", "role": ApproverRole.GROUP, "group": group, "mode": "all"}
        ],
    )
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    assert decide_via_api(api_as(world["carol"]), approval, "approve").json()["status"] == "pending"
    assert decide_via_api(api_as(erin), approval, "approve").json()["status"] == "approved"


def test_delegate_decides_and_both_names_are_recorded(world, api_as):
    today = timezone.localdate()
    bob, dave = api_as(world["bob"]), api_as(world["dave"])
    answer = bob.post(
        "/api/v1/approvals/delegations/",
        {"delegate": "dave", "starts_on": today, "ends_on": today + timedelta(days=3)},
    )
    assert answer.status_code == 201, answer.content
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    assert dave.get("/api/v1/approvals/inbox/").json()["count"] == 1
    assert decide_via_api(dave, approval, "approve", "for bob").json()["status"] == "approved"
    decision = ApprovalDecision.objects.get(stage__request=approval)
    assert (decision.user, decision.on_behalf_of) == (world["dave"], world["bob"])
    event = AuditEvent.objects.get(action="approval.stage_decided", order=approval.order)
    assert event.actor == world["dave"] and "delegated by bob" in event.message


def test_expired_or_reversed_delegation_grants_nothing(world, api_as):
    today = timezone.localdate()
    bad = api_as(world["bob"]).post(
        "/api/v1/approvals/delegations/",
        {"delegate": "dave", "starts_on": today, "ends_on": today - timedelta(days=1)},
    )
    assert bad.status_code == 400 and "ends_on" in bad.json()
    api_as(world["bob"]).post(
        "/api/v1/approvals/delegations/",
        {
            "delegate": "dave",
            "starts_on": today - timedelta(days=9),
            "ends_on": today - timedelta(days=2),
        },
    )
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    assert decide_via_api(api_as(world["dave"]), approval, "approve").status_code == 404


def test_approval_lists_take_a_constant_number_of_queries(world, api_as):
    """More approvals on the page must not mean more queries (API list, inbox and HTML list)."""
    alice, bob = api_as(world["alice"]), api_as(world["bob"])
    browser = Client()
    browser.force_login(world["bob"])

    def counts() -> list[int]:
        result = []
        for client, path in (
            (bob, "/api/v1/approvals/"),
            (bob, "/api/v1/approvals/inbox/"),
            (browser, "/approvals/"),
        ):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(path).status_code == 200
            result.append(len(queries))
        return result

    approval_of(order_via_api(alice, world))
    few = counts()
    for n in range(3):
        approval_of(order_via_api(alice, world, name=f"web-big-{n}", size="large"))
    assert counts() == few
