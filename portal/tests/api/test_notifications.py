"""Notifications through the API: emailed at each step of an order and listed, with an unread
count in the navigation."""

import pytest
from django.core import mail
from django.test import Client

from catalog.models import Order
from catalog.orders import order_deploy
from core.models import Notification
from core.services import notify
from provisioning.models import Step
from provisioning.services.saga import step_execute
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_approvers_and_requester_hear_of_each_step(
    world, api_as, django_capture_on_commit_callbacks
):
    alice, bob, carol = (api_as(world[name]) for name in ("alice", "bob", "carol"))
    with django_capture_on_commit_callbacks(execute=True):
        order_id = order_via_api(alice, world, size="large").data["id"]
    approval = Order.objects.get(pk=order_id).approval
    managers = [world["bob"].email]  # the Manager stage's approver: web-shop's manager
    assert sorted(m.to for m in mail.outbox) == [[email] for email in managers]
    assert "Approval needed" in mail.outbox[0].subject and "/approvals/link/" in mail.outbox[0].body

    with django_capture_on_commit_callbacks(execute=True):
        bob.post(f"/api/v1/approvals/{approval.pk}/approve/", {"comment": "ok"})
    stage_two = sorted(m.to[0] for m in mail.outbox[len(managers) :])
    assert stage_two == [world["alice"].email, world["carol"].email]
    with django_capture_on_commit_callbacks(execute=True):
        carol.post(f"/api/v1/approvals/{approval.pk}/approve/", {})
        order_deploy(order_id=order_id)  # as the worker would
        for step in Step.objects.all():
            step_execute(step_id=step.pk)
    subjects = list(
        Notification.objects.filter(user=world["alice"]).values_list("subject", flat=True)
    )
    assert [s.split(": ", 1)[1] for s in reversed(subjects)] == [
        "Manager approved",
        "approved",
        "completed",
    ]
    assert len(mail.outbox) == len(managers) + 4  # then alice and carol, then alice twice


def test_rejection_is_mailed_with_the_comment(world, api_as, django_capture_on_commit_callbacks):
    order_id = order_via_api(api_as(world["alice"]), world).data["id"]
    approval = Order.objects.get(pk=order_id).approval
    with django_capture_on_commit_callbacks(execute=True):
        api_as(world["bob"]).post(f"/api/v1/approvals/{approval.pk}/reject/", {"comment": "why?"})
    (email,) = mail.outbox
    assert email.to == [world["alice"].email] and "Rejected by bob: why?" in email.body


def test_in_app_list_unread_count_and_mark_read(world, api_as):
    alice = api_as(world["alice"])
    first = notify(user=world["alice"], subject="Hello", body="one", email=False)
    notify(user=world["alice"], subject="Again", body="two", email=False)
    notify(user=world["bob"], subject="Not yours", body="", email=False)
    assert alice.get("/api/v1/notifications/unread/").json() == {"unread": 2}
    listed = alice.get("/api/v1/notifications/").json()
    assert [n["subject"] for n in listed["results"]] == ["Again", "Hello"]
    assert alice.post(f"/api/v1/notifications/{first.pk}/read/").json()["read_at"]
    assert alice.get("/api/v1/notifications/?unread=true").json()["count"] == 1
    browser = Client()
    browser.force_login(world["alice"])
    assert b'data-testid="unread-notifications">1<' in browser.get("/").content
    assert b"Again" in browser.get("/notifications/").content
    browser.post("/notifications/read/")
    assert b'data-testid="unread-notifications">0<' in browser.get("/").content
    assert alice.post("/api/v1/notifications/read-all/").json() == {"marked": 0}
    assert api_as(world["bob"]).post(f"/api/v1/notifications/{first.pk}/read/").status_code == 404
