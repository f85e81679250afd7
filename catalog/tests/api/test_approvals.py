"""Approval policies as data: matching, chains of stages, four eyes, delegation, escalation and
the signed links in approvers' emails."""

import re
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import mail, signing
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApproverRole,
    StageStatus,
)
from approvals.selectors.deciders import APPROVAL_LINK_MAX_AGE, APPROVAL_LINK_SALT
from approvals.selectors.policies import approval_summary
from approvals.services.chain import approval_link
from approvals.services.escalation import approval_escalate_overdue
from approvals.services.policies import policy_save
from catalog.models import Order
from catalog.tasks import admit_order
from core.models import AuditEvent, OrganizationRole
from core.services import organization_membership_add
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def _approval(answer) -> ApprovalRequest:
    assert answer.status_code == 201, answer.content
    return Order.objects.get(pk=answer.data["id"]).approval


def _decide(client, approval: ApprovalRequest, verb: str, comment: str = ""):
    return client.post(f"/api/v1/approvals/{approval.pk}/{verb}/", {"comment": comment})


def test_small_order_needs_only_the_manager(demo, api_as):
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    assert approval.policy_name == "Acme standard"
    assert [(s.name, s.status) for s in approval.stages.all()] == [("Manager", "pending")]
    assert list(approval.current_stage.approvers.all()) == [demo["bob"]]
    assert AuditEvent.objects.filter(action="approval.stages_skipped", message__contains="Finance")


def test_big_order_runs_manager_then_finance(demo, api_as):
    alice, bob, carol = (api_as(demo[name]) for name in ("alice", "bob", "carol"))
    approval = _approval(order_via_api(alice, demo, size="large"))
    assert approval.order.estimated_monthly_cost > Decimal("50")
    assert carol.get("/api/v1/approvals/inbox/").json()["count"] == 0  # not her turn yet
    assert _decide(carol, approval, "approve").status_code in (403, 404)

    answer = _decide(bob, approval, "approve", "fine by me")
    assert answer.status_code == 200
    assert answer.json()["current_stage"] == 2 and answer.json()["status"] == "pending"
    assert bob.get("/api/v1/approvals/inbox/").json()["count"] == 0
    assert carol.get("/api/v1/approvals/inbox/").json()["count"] == 1
    answer = _decide(carol, approval, "approve", "budget ok")
    assert answer.json()["status"] == "approved"
    order = alice.get(f"/api/v1/orders/{approval.order_id}/").json()
    assert order["status"] in ("approved", "provisioning")
    assert "stages" not in answer.json()  # a decision's answer leaves the chain to the detail
    chain = bob.get(f"/api/v1/approvals/{approval.pk}/").json()["stages"]
    assert [s["decisions"][0]["user"] for s in chain] == ["bob", "carol"]


def test_rejection_at_the_second_stage_ends_the_order(demo, api_as):
    approval = _approval(order_via_api(api_as(demo["alice"]), demo, size="large"))
    _decide(api_as(demo["bob"]), approval, "approve")
    answer = _decide(api_as(demo["carol"]), approval, "reject", "over budget")
    assert answer.json()["status"] == "rejected"
    order = Order.objects.get(pk=approval.order_id)
    assert (order.status, order.status_message) == ("rejected", "over budget")


def test_four_eyes_distinct_people_per_stage(demo, api_as):
    """bob is manager and (here) finance too: with distinct approvers he decides one stage only."""
    organization_membership_add(
        user=demo["bob"], organization=demo["web_shop"].organization, role=OrganizationRole.FINANCE
    )
    bob = api_as(demo["bob"])
    approval = _approval(order_via_api(api_as(demo["alice"]), demo, size="large"))
    assert _decide(bob, approval, "approve").status_code == 200
    assert _decide(bob, approval, "approve").status_code == 403
    assert bob.get("/api/v1/approvals/inbox/").json()["count"] == 0
    assert _decide(api_as(demo["carol"]), approval, "approve").json()["status"] == "approved"


def test_the_requester_never_decides_even_holding_the_role(demo, api_as):
    organization_membership_add(
        user=demo["alice"],
        organization=demo["web_shop"].organization,
        role=OrganizationRole.ADMIN,
    )
    alice = api_as(demo["alice"])
    approval = _approval(order_via_api(alice, demo))
    assert demo["alice"] not in approval.current_stage.approvers.all()
    assert _decide(alice, approval, "approve").status_code == 404


def test_auto_approval_is_attributed_to_the_policy(demo, api_as):
    dave = api_as(demo["dave"])
    answer = dave.post(
        "/api/v1/orders/",
        {
            "item": "linux-vm",
            "project": demo["data_lab"].pk,
            "parameters": {"name": "lab-1", "size": "small"},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    admit_order(answer.data["id"])  # as the worker would
    approval = _approval(answer)
    assert approval.status == "approved" and approval.decided_by is None
    assert approval.order.status in ("approved", "provisioning")
    event = AuditEvent.objects.get(action="approval.decided", order=approval.order)
    assert event.actor is None and "data-lab self-service approved it" in event.message


def test_most_specific_policy_wins_and_says_why(demo, api_as):
    item = demo["linux_vm"]
    policy_save(
        policy=None,
        fields={"name": "VMs in web-shop", "project": demo["web_shop"], "catalog_item": item},
        stages=[{"name": "Finance only", "role": ApproverRole.FINANCE}],
    )
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    assert approval.policy_name == "VMs in web-shop"
    assert "project is web-shop" in approval.reason and "item is Linux VM" in approval.reason
    summary = approval_summary(order=approval.order)
    assert summary["policy"] == "VMs in web-shop"
    assert [s.name for s in summary["stages"]] == ["Finance only"]
    assert list(approval.current_stage.approvers.all()) == [demo["carol"]]


def test_order_page_partial_names_the_policy_and_why(demo, api_as):
    approval = _approval(order_via_api(api_as(demo["alice"]), demo, size="large"))
    html = render_to_string("approvals/_order_approval.html", {"order": approval.order})
    assert "Acme standard" in html and "organization is Acme" in html
    assert "Manager" in html and "Finance" in html


def test_no_matching_policy_keeps_the_old_default(demo, api_as):
    ApprovalPolicy.objects.all().delete()
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    assert approval.policy_name == "Default"
    assert approval.current_stage.role == ApproverRole.PROJECT_MANAGER


def test_group_stage_in_all_mode_needs_every_member(demo, api_as, django_user_model):
    group = Group.objects.create(name="change board")
    erin = django_user_model.objects.create_user("erin", "erin@acme.example", "pw")
    group.user_set.add(demo["carol"], erin)
    policy_save(
        policy=None,
        fields={"name": "Board", "project": demo["web_shop"]},
        stages=[
            {"name": "Change board", "role": ApproverRole.GROUP, "group": group, "mode": "all"}
        ],
    )
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    assert _decide(api_as(demo["carol"]), approval, "approve").json()["status"] == "pending"
    assert _decide(api_as(erin), approval, "approve").json()["status"] == "approved"


def test_delegate_decides_and_both_names_are_recorded(demo, api_as):
    today = timezone.localdate()
    bob, dave = api_as(demo["bob"]), api_as(demo["dave"])
    answer = bob.post(
        "/api/v1/approvals/delegations/",
        {"delegate": "dave", "starts_on": today, "ends_on": today + timedelta(days=3)},
    )
    assert answer.status_code == 201, answer.content
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    assert dave.get("/api/v1/approvals/inbox/").json()["count"] == 1
    assert _decide(dave, approval, "approve", "for bob").json()["status"] == "approved"
    decision = ApprovalDecision.objects.get(stage__request=approval)
    assert (decision.user, decision.on_behalf_of) == (demo["dave"], demo["bob"])
    event = AuditEvent.objects.get(action="approval.stage_decided", order=approval.order)
    assert event.actor == demo["dave"] and "delegated by bob" in event.message


def test_expired_or_reversed_delegation_grants_nothing(demo, api_as):
    today = timezone.localdate()
    bad = api_as(demo["bob"]).post(
        "/api/v1/approvals/delegations/",
        {"delegate": "dave", "starts_on": today, "ends_on": today - timedelta(days=1)},
    )
    assert bad.status_code == 400 and "ends_on" in bad.json()
    api_as(demo["bob"]).post(
        "/api/v1/approvals/delegations/",
        {
            "delegate": "dave",
            "starts_on": today - timedelta(days=9),
            "ends_on": today - timedelta(days=2),
        },
    )
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    assert _decide(api_as(demo["dave"]), approval, "approve").status_code == 404


def test_overdue_stage_escalates_to_the_org_admin(demo, api_as, django_user_model):
    olga = django_user_model.objects.create_user("olga", "olga@acme.example", "pw")
    organization_membership_add(
        user=olga, organization=demo["web_shop"].organization, role=OrganizationRole.ADMIN
    )
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    stage = approval.current_stage
    assert approval_escalate_overdue() == 0  # not due yet (48 h SLA)
    assert approval_escalate_overdue(now=timezone.now() + timedelta(hours=49)) == 1
    stage.refresh_from_db()
    assert stage.role == ApproverRole.ORG_ADMIN and stage.escalations == 1
    assert set(stage.approvers.all()) >= {demo["bob"], olga}
    event = AuditEvent.objects.get(action="approval.escalated", order=approval.order)
    assert event.actor is None and "escalated it from Project manager" in event.message
    assert _decide(api_as(olga), approval, "approve").json()["status"] == "approved"


@pytest.mark.parametrize(
    ("on_timeout", "outcome"), [("approve", "approved"), ("reject", "rejected")]
)
def test_overdue_stage_decided_by_the_policy(demo, api_as, on_timeout, outcome):
    policy = ApprovalPolicy.objects.get(name="Acme standard")
    policy.stages.filter(name="Manager").update(sla_hours=1, on_timeout=on_timeout)
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    approval_escalate_overdue(now=timezone.now() + timedelta(hours=2))
    approval.refresh_from_db()
    assert approval.status == outcome
    assert (
        approval.order.status
        in {"approve": ("approved", "provisioning"), "reject": ("rejected",)}[on_timeout]
    )
    decision = ApprovalDecision.objects.get(stage__request=approval)
    assert decision.user is None and "policy Acme standard" in decision.comment


def test_email_link_needs_login_and_the_right_person(
    demo, api_as, django_capture_on_commit_callbacks, monkeypatch
):
    # The signature includes the second it was made: hold the clock so that the link rebuilt
    # below is the mailed one even when a second passes in between.
    now = signing.b62_encode(int(time.time()))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: now)
    with django_capture_on_commit_callbacks(execute=True):
        approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    (email,) = [m for m in mail.outbox if m.to == ["bob@acme.example"]]
    link = approval_link(stage=approval.current_stage, user=demo["bob"], decision="approve")
    assert link in email.body
    anonymous = Client().get(link)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]

    carol = Client()
    carol.force_login(demo["carol"])  # a forwarded link
    forwarded = carol.get(link, follow=True)
    assert b"not valid for you" in forwarded.content
    bob = Client()
    bob.force_login(demo["bob"])
    page = bob.get(link)
    assert page.status_code == 200 and b"approve</strong> link" in page.content
    approval.refresh_from_db()
    assert approval.status == "pending"  # following the link decides nothing by itself
    bob.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve", "comment": "via mail"})
    approval.refresh_from_db()
    assert approval.status == "approved"
    stale = bob.get(link, follow=True)  # already decided
    assert b"not valid for you" in stale.content


def test_expired_link_is_refused(demo, api_as):
    approval = _approval(order_via_api(api_as(demo["alice"]), demo))
    signer = signing.TimestampSigner(salt=APPROVAL_LINK_SALT)
    signer.timestamp = lambda: signing.b62_encode(int(time.time()) - APPROVAL_LINK_MAX_AGE - 60)
    token = signer.sign_object(
        {"stage": approval.current_stage_id, "user": demo["bob"].pk, "decision": "reject"}
    )
    bob = Client()
    bob.force_login(demo["bob"])
    answer = bob.get(reverse("approvals:approval_link", kwargs={"token": token}), follow=True)
    assert b"has expired" in answer.content


def test_approvals_pages_show_stage_policy_and_delegation_form(demo, api_as):
    approval = _approval(order_via_api(api_as(demo["alice"]), demo, size="large"))
    bob = Client()
    bob.force_login(demo["bob"])
    listing = bob.get("/approvals/").content.decode()
    assert "Acme standard" in listing and "1. Manager" in listing
    detail = bob.get(f"/approvals/{approval.pk}/").content.decode()
    assert "Finance" in detail and 'value="approve"' in detail
    assert bob.get("/approvals/delegations/").status_code == 200
    today = timezone.localdate()
    answer = bob.post(
        "/approvals/delegations/",
        {"delegate": "dave", "starts_on": today, "ends_on": today},
        follow=True,
    )
    assert b"Delegated to dave" in answer.content
    assert approval.stages.get(position=2).status == StageStatus.WAITING


def test_policies_api_staff_edit_everyone_reads(demo, api_as):
    body = {
        "name": "Big spenders",
        "organization": demo["web_shop"].organization_id,
        "min_monthly_cost": "1000.00",
        "resource_kinds": ["server"],
        "stages": [
            {"name": "Manager", "role": "project_manager"},
            {"name": "CFO", "role": "finance", "sla_hours": 24, "on_timeout": "reject"},
        ],
    }
    assert api_as(demo["alice"]).post("/api/v1/policies/", body, format="json").status_code == 403
    admin = api_as(demo["admin"])
    created = admin.post("/api/v1/policies/", body, format="json")
    assert created.status_code == 201, created.content
    assert [s["name"] for s in created.json()["stages"]] == ["Manager", "CFO"]
    listed = api_as(demo["alice"]).get("/api/v1/policies/").json()
    assert "Big spenders" in [p["name"] for p in listed["results"]]
    bad = admin.post(
        "/api/v1/policies/",
        {**body, "name": "x", "min_monthly_cost": "5", "max_monthly_cost": "1"},
        format="json",
    )
    assert bad.status_code == 400 and "max_monthly_cost" in bad.json()
    no_group = admin.post(
        "/api/v1/policies/",
        {**body, "name": "y", "stages": [{"name": "G", "role": "group"}]},
        format="json",
    )
    assert no_group.status_code == 400 and "stages" in no_group.json()


def test_bob_and_carol_run_the_chain_from_their_email_links(
    demo, api_as, django_capture_on_commit_callbacks
):
    """The issue's story: each approver follows the link in their own email and confirms."""
    with django_capture_on_commit_callbacks(execute=True):
        approval = _approval(order_via_api(api_as(demo["alice"]), demo, size="large"))
    for name in ("bob", "carol"):
        (email,) = [m for m in mail.outbox if m.to == [f"{name}@acme.example"]]
        link = next(word for word in email.body.split() if "/approvals/link/" in word)
        browser = Client()
        browser.force_login(demo[name])
        page = browser.get(link.removeprefix(settings.CANOPY_BASE_URL))
        assert b"approve</strong> link" in page.content
        with django_capture_on_commit_callbacks(execute=True):
            browser.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"})
    approval.refresh_from_db()
    assert approval.status == "approved"
    assert list(
        ApprovalDecision.objects.filter(stage__request=approval).values_list(
            "user__username", flat=True
        )
    ) == ["bob", "carol"]


def test_approval_lists_take_a_constant_number_of_queries(demo, api_as):
    """More approvals on the page must not mean more queries (API list, inbox and HTML list)."""
    alice, bob = api_as(demo["alice"]), api_as(demo["bob"])
    browser = Client()
    browser.force_login(demo["bob"])

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

    _approval(order_via_api(alice, demo))
    few = counts()
    for n in range(3):
        _approval(order_via_api(alice, demo, name=f"web-big-{n}", size="large"))
    assert counts() == few


def test_approval_page_is_paginated_and_page_links_keep_the_filter(demo, api_as, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    alice = api_as(demo["alice"])
    approvals = [_approval(order_via_api(alice, demo, name=f"web-{n}")) for n in range(4)]
    assert _decide(api_as(demo["bob"]), approvals[0], "approve").json()["status"] == "approved"
    bob = Client()
    bob.force_login(demo["bob"])

    def listed(query: str) -> tuple[list[int], str]:
        answer = bob.get(f"/approvals/?{query}")
        assert answer.status_code == 200
        page = answer.content.decode()
        return [int(pk) for pk in re.findall(r'href="/approvals/(\d+)/"', page)], page

    pending = {approval.pk for approval in approvals[1:]}
    first, page = listed("status=pending")
    assert len(first) == 2 and "Page 1 of 2 (3 in all)" in page
    assert page.count("<strong>(yours)</strong>") == 2
    assert 'href="?status=pending&amp;page=2"' in page and 'rel="prev"' not in page
    second, page = listed("status=pending&page=2")
    assert len(second) == 1 and 'href="?status=pending&amp;page=1"' in page
    assert set(first + second) == pending
    # Unfiltered: the pending ones come first, the decided one on the last page.
    everything = [pk for number in (1, 2) for pk in listed(f"page={number}")[0]]
    assert everything == first + second + [approvals[0].pk]
    # Past the last page: the last page, not an error.
    assert listed("page=99")[0] == everything[2:]


def test_approval_page_refuses_an_unknown_status(demo, api_as):
    _approval(order_via_api(api_as(demo["alice"]), demo))
    bob = Client()
    bob.force_login(demo["bob"])
    answer = bob.get("/approvals/?status=maybe")
    assert answer.status_code == 400
    assert "Select a valid choice. maybe is not one of the available choices." in (
        answer.content.decode()
    )
