"""The approvals pages: the order page's partial, the signed links in approvers' emails, the
paginated and filtered list, the delegation form."""

import re
import time

import pytest
from django.conf import settings
from django.core import mail, signing
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from approvals.models import ApprovalDecision, StageStatus
from approvals.selectors.deciders import APPROVAL_LINK_MAX_AGE, APPROVAL_LINK_SALT
from approvals.services.chain import approval_link
from catalog.tests.helpers import approval_of, decide_via_api
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_order_page_partial_names_the_policy_and_why(world, api_as):
    approval = approval_of(order_via_api(api_as(world["alice"]), world, size="large"))
    html = render_to_string("approvals/_order_approval.html", {"order": approval.order})
    assert "Acme standard" in html and "organization is Acme" in html
    assert "Manager" in html and "Finance" in html


def test_email_link_needs_login_and_the_right_person(
    world, api_as, django_capture_on_commit_callbacks, monkeypatch
):
    # The signature includes the second it was made: hold the clock so that the link rebuilt
    # below is the mailed one even when a second passes in between.
    now = signing.b62_encode(int(time.time()))
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: now)
    with django_capture_on_commit_callbacks(execute=True):
        approval = approval_of(order_via_api(api_as(world["alice"]), world))
    (email,) = [m for m in mail.outbox if m.to == [world["bob"].email]]
    link = approval_link(stage=approval.current_stage, user=world["bob"], decision="approve")
    assert link in email.body
    anonymous = Client().get(link)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]

    carol = Client()
    carol.force_login(world["carol"])  # a forwarded link
    forwarded = carol.get(link, follow=True)
    assert b"not valid for you" in forwarded.content
    bob = Client()
    bob.force_login(world["bob"])
    page = bob.get(link)
    assert page.status_code == 200 and b"approve</strong> link" in page.content
    approval.refresh_from_db()
    assert approval.status == "pending"  # following the link decides nothing by itself
    bob.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve", "comment": "via mail"})
    approval.refresh_from_db()
    assert approval.status == "approved"
    stale = bob.get(link, follow=True)  # already decided
    assert b"not valid for you" in stale.content


def test_expired_link_is_refused(world, api_as):
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    signer = signing.TimestampSigner(salt=APPROVAL_LINK_SALT)
    signer.timestamp = lambda: signing.b62_encode(int(time.time()) - APPROVAL_LINK_MAX_AGE - 60)
    token = signer.sign_object(
        {"stage": approval.current_stage_id, "user": world["bob"].pk, "decision": "reject"}
    )
    bob = Client()
    bob.force_login(world["bob"])
    answer = bob.get(reverse("approvals:approval_link", kwargs={"token": token}), follow=True)
    assert b"has expired" in answer.content


def test_approvals_pages_show_stage_policy_and_delegation_form(world, api_as):
    approval = approval_of(order_via_api(api_as(world["alice"]), world, size="large"))
    bob = Client()
    bob.force_login(world["bob"])
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


def test_bob_and_carol_run_the_chain_from_their_email_links(
    world, api_as, django_capture_on_commit_callbacks
):
    """The issue's story: each approver follows the link in their own email and confirms."""
    with django_capture_on_commit_callbacks(execute=True):
        approval = approval_of(order_via_api(api_as(world["alice"]), world, size="large"))
    for name in ("bob", "carol"):
        (email,) = [m for m in mail.outbox if m.to == [world[name].email]]
        link = next(word for word in email.body.split() if "/approvals/link/" in word)
        browser = Client()
        browser.force_login(world[name])
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


def test_approval_page_is_paginated_and_page_links_keep_the_filter(world, api_as, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    alice = api_as(world["alice"])
    approvals = [approval_of(order_via_api(alice, world, name=f"web-{n}")) for n in range(4)]
    assert (
        decide_via_api(api_as(world["bob"]), approvals[0], "approve").json()["status"] == "approved"
    )
    bob = Client()
    bob.force_login(world["bob"])

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


def test_approval_page_refuses_an_unknown_status(world, api_as):
    approval_of(order_via_api(api_as(world["alice"]), world))
    bob = Client()
    bob.force_login(world["bob"])
    answer = bob.get("/approvals/?status=maybe")
    assert answer.status_code == 400
    assert "Select a valid choice. maybe is not one of the available choices." in (
        answer.content.decode()
    )
