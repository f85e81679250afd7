"""The first hour of every persona (issue 16) on the pages, below the browser: messages that say
why, states that are true, human labels, the inbox's bulk decisions, settings people change
without the admin."""

import logging
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from approvals.models import ApprovalPolicy, ApprovalRequest, Quota
from billing.models import Budget
from catalog.models import Order
from catalog.orders import order_destroy
from catalog.tests.saga import run_queued
from core.labels import human
from core.models import OrganizationMembership
from lifecycle.models import IdlePolicy
from portal.tests.helpers import browser, provisioned
from provisioning.models import Resource
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_the_estimate_refuses_an_invalid_form_and_says_why(demo):
    page = browser(demo["alice"]).post(
        "/catalog/web-tier/estimate/",
        {"project": demo["web_shop"].pk, "name": "shop", "size": "small", "instances": 9999},
    )
    text = page.content.decode()
    assert "Estimated monthly cost" not in text
    assert "Web servers: Ensure this value is less than or equal to 10." in text


def test_an_over_quota_estimate_stands_out_and_disables_submit(demo, api_as):
    Quota.objects.filter(project=demo["web_shop"]).update(max_servers=1)
    body = {"project": demo["web_shop"].pk, "name": "shop", "size": "small", "instances": 3}
    text = browser(demo["alice"]).post("/catalog/web-tier/estimate/", body).content.decode()
    assert 'data-testid="estimate-refused"' in text
    assert "Over the server quota of web-shop" in text
    assert "disabled" in text.split('data-testid="estimate-refused"')[1]
    # The API keeps refusing it.
    parameters = {name: value for name, value in body.items() if name != "project"}
    answer = api_as(demo["alice"]).post(
        "/api/v1/orders/",
        {"item": "web-tier", "project": demo["web_shop"].pk, "parameters": parameters},
        format="json",
    )
    assert answer.status_code == 400
    assert "Over the server quota of web-shop" in str(answer.json())


def test_an_order_whose_resources_are_gone_reads_deleted(demo):
    order = provisioned(demo, name="gone-1")
    alice = browser(demo["alice"])
    page = alice.get(f"/orders/{order.pk}/").content.decode()
    assert "Delete all resources" in page
    order_destroy(user=demo["alice"], order_id=order.pk)
    run_queued()
    page = alice.get(f"/orders/{order.pk}/").content.decode()
    assert '<span class="status status-deleted" data-testid="order-status">deleted</span>' in page
    assert "Delete all resources" not in page
    server = Resource.objects.get(order=order)
    detail = alice.get(f"/resources/{server.pk}/").content.decode()
    assert 'data-testid="resource-deleted"' in detail
    for gone in ("Public IPs", "Extend", "Keep", ">Stop<", "203.0.113."):
        assert gone not in detail, gone


def test_stage_one_of_two_says_who_is_next(demo, api_as):
    order_via_api(api_as(demo["alice"]), demo, size="large")  # above 50 USD: bob, then carol
    approval = ApprovalRequest.objects.get()
    bob = browser(demo["bob"])
    page = bob.post(
        f"/approvals/{approval.pk}/decide/", {"decision": "approve"}, follow=True
    ).content.decode()
    assert f"Order #{approval.order_id}: approved stage 1 of 2, waiting for Finance." in page
    assert f"Order #{approval.order_id} approved." not in page


def test_the_inbox_approves_several_orders_with_one_comment(demo, api_as):
    alice = api_as(demo["alice"])
    ids = [order_via_api(alice, demo, name=f"web-{n}").data["id"] for n in (1, 2)]
    approvals = ApprovalRequest.objects.filter(order_id__in=ids)
    page = browser(demo["bob"]).post(
        "/approvals/decide/",
        {"approval": [a.pk for a in approvals], "decision": "approve", "comment": "both fine"},
        follow=True,
    )
    assert {a.status for a in approvals.all()} == {"approved"}
    assert {a.comment for a in approvals.all()} == {"both fine"}
    for order_id in ids:
        assert f"Order #{order_id} approved." in page.content.decode()


def test_a_policy_may_ask_for_a_reason_to_reject(demo, api_as):
    ApprovalPolicy.objects.update(reject_needs_reason=True)
    order_via_api(api_as(demo["alice"]), demo)
    approval = ApprovalRequest.objects.get()
    bob = browser(demo["bob"])
    page = bob.post(f"/approvals/{approval.pk}/decide/", {"decision": "reject"}, follow=True)
    assert "asks for a reason to reject" in page.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending"
    bob.post(f"/approvals/{approval.pk}/decide/", {"decision": "reject", "comment": "too big"})
    approval.refresh_from_db()
    assert approval.status == "rejected"


def test_delegating_to_a_requester_warns_and_keeps_their_orders(demo, api_as):
    order = order_via_api(api_as(demo["alice"]), demo).data
    page = browser(demo["bob"]).post(
        "/approvals/delegations/",
        {"delegate": "alice", "starts_on": "2020-01-01", "ends_on": "2099-01-01"},
        follow=True,
    )
    assert f"alice requested #{order['id']}, which wait for you" in page.content.decode()
    # Four eyes: alice, now bob's delegate, still cannot decide her own order.
    approval = ApprovalRequest.objects.get(order_id=order["id"])
    browser(demo["alice"]).post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"})
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_pages_show_labels_not_field_names(demo, api_as):
    order_via_api(api_as(demo["alice"]), demo, ssh_key="ssh-ed25519 AAAA alice@laptop")
    order = Order.objects.get()
    html = browser(demo["alice"]).get(f"/orders/{order.pk}/").content.decode()
    page = re.sub(r"<[^>]*>", " ", html)  # what people read, not class names
    assert "pending approval" in page
    for internal in ("pending_approval", "ssh_key", "None", "order.status"):
        assert internal not in page, internal
    assert "SSH public key" in page and "Server name" in page


def test_human_labels():
    assert human(timedelta(days=1)) == "1 day"
    assert human(timedelta(hours=26, minutes=5)) == "1 day 2 hours 5 minutes"
    assert human(["snap-1", "snap-2"]) == "snap-1, snap-2"
    assert human(None) == "—"
    assert human("pending_approval") == "pending approval"
    assert human("approval.stage_decided") == "approval stage decided"


def test_linux_items_offer_no_windows_image(demo):
    for slug, windows in [("linux-vm", False), ("web-tier", False), ("windows-vm", True)]:
        page = browser(demo["alice"]).get(f"/catalog/{slug}/").content.decode()
        assert ("Windows Server 2022" in page) is windows, slug


@override_settings(DEBUG=False)
def test_friendly_error_pages_and_quiet_logs(demo, caplog):
    client = browser(demo["dave"])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        missing = client.get("/orders/999999/")
        refused = client.get("/costs/budgets/new/")  # dave is no finance person
    assert refused.status_code == 403
    assert "Only finance people and organization admins set budgets." in refused.content.decode()
    requests = [record for record in caplog.records if record.name == "django.request"]
    assert len(requests) == 2  # one line each (sign-in's own lines, e.g. axes', are not these)
    assert missing.status_code == 404
    assert 'data-testid="error-page"' in missing.content.decode()
    assert "URLconf" not in missing.content.decode()
    assert all(record.exc_info is None for record in requests)
    assert client.get("/favicon.ico").status_code == 301


def test_catalog_search_and_category_filter(demo):
    alice = browser(demo["alice"])
    found = alice.get("/", {"q": "postgresql"}).content.decode()
    assert "PostgreSQL database" in found and "Linux VM" not in found
    networking = alice.get("/", {"category": "networking"}).content.decode()
    assert "Private network" in networking and "Windows VM" not in networking
    assert "Nothing on the menu matches" in alice.get("/", {"q": "mainframe"}).content.decode()


def test_finance_changes_a_budget_without_the_admin(demo):

    carol = browser(demo["carol"])
    assert carol.get("/costs/budgets/new/").status_code == 200
    twice = carol.post(
        "/costs/budgets/new/", {"project": demo["web_shop"].pk, "monthly_amount": "1"}
    ).content.decode()
    assert "web-shop has a budget already: change that one." in twice.replace("&#x27;", "'")
    saved = carol.post("/costs/budgets/new/", {"cost_center": "CC-900", "monthly_amount": "9.5"})
    assert saved.status_code == 302
    assert Budget.objects.get(cost_center="CC-900").monthly_amount == Decimal("9.5")
    budget = Budget.objects.get(project=demo["web_shop"])
    carol.post(
        f"/costs/budgets/{budget.pk}/",
        {
            "project": demo["web_shop"].pk,
            "monthly_amount": "200",
            "refuse_orders_over_budget": "on",
        },
    )
    budget.refresh_from_db()
    assert budget.monthly_amount == Decimal("200") and budget.refuse_orders_over_budget
    # A member of the project reads it but may not change it.
    assert browser(demo["alice"]).get(f"/costs/budgets/{budget.pk}/").status_code == 404
    assert browser(demo["alice"]).get("/costs/budgets/new/").status_code == 403


def test_quotas_and_idle_policies_are_set_in_the_portal(demo):

    OrganizationMembership.objects.create(
        user=demo["carol"], organization=demo["web_shop"].organization, role="admin"
    )
    carol = browser(demo["carol"])
    assert "project web-shop" in carol.get("/approvals/quotas/").content.decode()
    carol.post(f"/approvals/quotas/{demo['web_shop'].pk}/", {"max_servers": "7"})
    quota = Quota.objects.get(project=demo["web_shop"])
    assert quota.max_servers == 7 and quota.max_vcpus is None  # an empty box: no limit
    assert browser(demo["bob"]).get(f"/approvals/quotas/{demo['web_shop'].pk}/").status_code == 403

    policy = IdlePolicy.objects.filter(organization=demo["web_shop"].organization).first()
    if policy is None:
        policy = IdlePolicy.objects.create(
            organization=demo["web_shop"].organization, name="acme idle", window="1 00:00:00"
        )
    form = carol.get(f"/lifecycle/idle-policies/{policy.pk}/").content.decode()
    assert "1 day" in form and "0:00:00" not in form
    carol.post(
        f"/lifecycle/idle-policies/{policy.pk}/",
        {
            "name": policy.name,
            "enabled": "on",
            "cpu_below_percent": "3",
            "network_below_kbps": "20",
            "window": "2 hours",
            "notify_after": "30 minutes",
        },
    )
    policy.refresh_from_db()
    assert (policy.window, policy.notify_after, policy.stop_after) == (
        timedelta(hours=2),
        timedelta(minutes=30),
        None,
    )


def test_idle_policies_are_added_and_deleted_in_the_portal(demo):
    web_shop = demo["web_shop"]
    OrganizationMembership.objects.create(
        user=demo["carol"], organization=web_shop.organization, role="admin"
    )
    IdlePolicy.objects.filter(project=web_shop).delete()
    carol = browser(demo["carol"])
    assert 'data-testid="idle-policy-new"' in carol.get("/lifecycle/").content.decode()
    form = {
        "scope": f"project-{web_shop.pk}",
        "name": "web-shop idle",
        "enabled": "on",
        "cpu_below_percent": "4",
        "network_below_kbps": "30",
        "window": "0 minutes",
        "notify_after": "1 hour",
    }
    # The same rules as the API: a window must be positive, said on the field.
    page = carol.post("/lifecycle/idle-policies/new/", form).content.decode()
    assert 'data-testid="error-window"' in page
    carol.post("/lifecycle/idle-policies/new/", {**form, "window": "2 hours"})
    policy = IdlePolicy.objects.get(project=web_shop)
    assert (policy.name, policy.window) == ("web-shop idle", timedelta(hours=2))
    # A second policy for the same project is refused on the scope.
    again = carol.post("/lifecycle/idle-policies/new/", {**form, "window": "1 hour"})
    assert 'data-testid="error-scope"' in again.content.decode()
    # Members and project managers neither add nor delete policies.
    for name in ("alice", "bob"):
        assert browser(demo[name]).get("/lifecycle/idle-policies/new/").status_code == 403
        deleted = browser(demo[name]).post(f"/lifecycle/idle-policies/{policy.pk}/delete/")
        assert deleted.status_code == 404
    edit = carol.get(f"/lifecycle/idle-policies/{policy.pk}/").content.decode()
    assert 'data-testid="settings-delete"' in edit
    carol.post(f"/lifecycle/idle-policies/{policy.pk}/delete/")
    assert not IdlePolicy.objects.filter(pk=policy.pk).exists()


def test_finance_deletes_a_budget_in_the_portal(demo):
    budget = Budget.objects.get(project=demo["web_shop"])
    carol = browser(demo["carol"])
    assert (
        'data-testid="settings-delete"'
        in carol.get(f"/costs/budgets/{budget.pk}/").content.decode()
    )
    assert browser(demo["alice"]).post(f"/costs/budgets/{budget.pk}/delete/").status_code == 404
    carol.post(f"/costs/budgets/{budget.pk}/delete/")
    assert not Budget.objects.filter(pk=budget.pk).exists()


def test_an_order_with_a_broken_resource_reads_degraded(demo):
    order = provisioned(demo, "web-tier", name="tier", instances=2)
    web = Resource.objects.filter(order=order, kind="server").first()
    Resource.objects.filter(pk=web.pk).update(state="error")  # as a failed day-2 step leaves it
    page = browser(demo["alice"]).get(f"/orders/{order.pk}/").content.decode()
    assert 'data-testid="order-status">degraded</span>' in page


def test_the_admin_in_words(demo):
    admin = browser(demo["admin"])
    assert "Scaling policies" in admin.get("/admin/").content.decode()
    events = admin.get("/admin/core/auditevent/").content.decode()
    assert "/admin/core/auditevent/add/" not in events
    form = admin.get("/admin/provisioning/cloudaccount/add/").content.decode()
    credentials = re.search(r'<textarea name="new_credentials"[^>]*>([^<]*)</textarea>', form)
    assert credentials is not None and credentials.group(1).strip() == ""


def test_an_order_over_a_budget_that_only_alerts_is_warned_not_refused(demo):

    Budget.objects.filter(project=demo["web_shop"]).update(monthly_amount=Decimal("0.01"))
    body = {"project": demo["web_shop"].pk, "name": "big-1", "size": "large"}
    text = browser(demo["alice"]).post("/catalog/linux-vm/estimate/", body).content.decode()
    assert 'data-testid="estimate-over-budget"' in text and "over its budget of 0.01" in text
    assert "disabled" not in text
    Budget.objects.filter(project=demo["web_shop"]).update(refuse_orders_over_budget=True)
    text = browser(demo["alice"]).post("/catalog/linux-vm/estimate/", body).content.decode()
    assert 'data-testid="estimate-refused"' in text and "disabled" in text
