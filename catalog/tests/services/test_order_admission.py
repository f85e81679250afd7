"""Asynchronous admission: a request saves the order `submitted` and a worker admits it
(`catalog.tasks.admit_submitted`, one message per burst of orders): quota reservation,
budget, policy, stages, notifications."""

from datetime import timedelta

import pytest
from celery import current_app as celery_app
from django.core.cache import cache
from django.utils import timezone

import catalog.orders as order_lifecycle
from approvals.models import ApprovalRequest, LedgerStatus, Quota, QuotaEntry
from catalog.models import Order
from catalog.orders import (
    ADMISSION_FLAG,
    ADMISSION_OVERDUE,
    order_admit,
    orders_admit_overdue,
    orders_admit_submitted,
)
from catalog.tasks import admit_order, admit_submitted
from core.models import AuditEvent, Notification, OutboxMessage
from tests.fixtures import order_via_api, wait_until


@pytest.mark.django_db
def test_submission_answers_submitted_and_the_worker_admits_it(world, api_as):
    alice = api_as(world["alice"])
    answer = order_via_api(alice, world, admit=False)
    assert answer.status_code == 201, answer.content
    order = Order.objects.get(pk=answer.data["id"])
    assert (answer.data["status"], order.status) == ("submitted", "submitted")
    assert not QuotaEntry.objects.exists() and not ApprovalRequest.objects.exists()
    assert alice.get(f"/api/v1/orders/{order.pk}/").json()["status"] == "submitted"

    admit_order(order.pk)
    order.refresh_from_db()
    assert order.status == "pending_approval"
    assert QuotaEntry.objects.get(order=order).status == LedgerStatus.RESERVED
    assert Notification.objects.filter(user=world["bob"], subject__contains=f"#{order.pk}")
    assert list(
        AuditEvent.objects.filter(order=order, action="order.status").values_list(
            "from_state", "to_state"
        )
    ) == [("submitted", "pending_approval")]


@pytest.mark.django_db
def test_a_redelivered_admission_changes_nothing(world, api_as, query_baseline):
    order_id = order_via_api(api_as(world["alice"]), world).data["id"]
    events = AuditEvent.objects.count()
    # The locked read (inside a savepoint), nothing else.
    with query_baseline("catalog.order_admit_again"):
        assert order_admit(order_id=order_id) is None
    assert QuotaEntry.objects.filter(order_id=order_id).count() == 1
    assert ApprovalRequest.objects.filter(order_id=order_id).count() == 1
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_an_order_cancelled_before_admission_is_left_alone(world, api_as):
    alice = api_as(world["alice"])
    order_id = order_via_api(alice, world, admit=False).data["id"]
    assert alice.post(f"/api/v1/orders/{order_id}/cancel/").json()["status"] == "cancelled"
    admit_order(order_id)
    assert Order.objects.get(pk=order_id).status == "cancelled"
    assert not QuotaEntry.objects.exists() and not ApprovalRequest.objects.exists()


@pytest.mark.django_db
def test_an_order_that_no_longer_fits_at_admission_is_rejected_and_alice_told(world, api_as):
    """The pre-check passed, then the quota filled (here: lowered) before the worker ran."""
    answer = order_via_api(api_as(world["alice"]), world, admit=False)
    Quota.objects.update_or_create(project=world["web_shop"], defaults={"max_servers": 0})
    admit_order(answer.data["id"])
    order = Order.objects.get(pk=answer.data["id"])
    message = "Over the server quota of web-shop: this needs 1, 0 of 0 are already taken."
    assert (order.status, order.status_message) == ("rejected", message)
    assert not QuotaEntry.objects.filter(status=LedgerStatus.RESERVED).exists()
    assert not ApprovalRequest.objects.exists()
    (note,) = Notification.objects.filter(user=world["alice"])
    assert note.subject == f"Order #{order.pk} Linux VM: refused" and note.body == message
    assert AuditEvent.objects.get(order=order, to_state="rejected").message == message


@pytest.mark.django_db
def test_beat_admits_an_order_whose_message_was_lost(world, api_as):
    order_id = order_via_api(api_as(world["alice"]), world, admit=False).data["id"]
    assert orders_admit_overdue() == 0  # just submitted: its message is on its way
    later = timezone.now() + ADMISSION_OVERDUE + timedelta(seconds=1)
    assert orders_admit_overdue(now=later) == 1
    assert Order.objects.get(pk=order_id).status == "pending_approval"
    assert orders_admit_overdue(now=later) == 0


@pytest.fixture
def publishes(monkeypatch):
    """The `admit_submitted` messages sent (none reaches a broker); the coalescing flag is
    cleared before and after, so no other test inherits it."""
    sent = []

    def send_task(name, args=(), **options):
        assert name == admit_submitted.name
        sent.append(args)

    monkeypatch.setattr(celery_app, "send_task", send_task)
    cache.delete(ADMISSION_FLAG)
    yield sent
    cache.delete(ADMISSION_FLAG)


@pytest.mark.django_db
def test_a_burst_of_orders_sends_one_admission_message_and_it_admits_them_all(
    world, api_as, publishes, django_capture_on_commit_callbacks
):
    alice = api_as(world["alice"])
    with django_capture_on_commit_callbacks(execute=True):
        first = order_via_api(alice, world, admit=False, name="web-1").data["id"]
        second = order_via_api(alice, world, admit=False, name="web-2").data["id"]
    assert len(publishes) == 1

    assert orders_admit_submitted() == 2  # the worker's task
    statuses = Order.objects.filter(pk__in=[first, second]).values_list("status", flat=True)
    assert set(statuses) == {"pending_approval"}
    assert orders_admit_submitted() == 0  # a second delivery finds nothing to do

    with django_capture_on_commit_callbacks(execute=True):  # the task cleared the flag
        order_via_api(alice, world, admit=False, name="web-3")
    assert len(publishes) == 2


@pytest.mark.django_db
def test_a_flag_whose_task_was_lost_expires_and_beat_admits_what_it_held_back(
    world, api_as, publishes, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(order_lifecycle, "ADMISSION_FLAG_TTL", 1)
    alice = api_as(world["alice"])
    with django_capture_on_commit_callbacks(execute=True):
        held = order_via_api(alice, world, admit=False, name="web-1").data["id"]
    publishes.clear()  # as if the worker died before running the task

    with django_capture_on_commit_callbacks(execute=True):
        order_via_api(alice, world, admit=False, name="web-2")
    assert publishes == []  # the flag of the lost task holds it back…
    wait_until(lambda: ADMISSION_FLAG not in cache, timeout=10, what="the flag expires")
    with django_capture_on_commit_callbacks(execute=True):
        order_via_api(alice, world, admit=False, name="web-3")
    assert len(publishes) == 1  # …only until it expires

    later = timezone.now() + ADMISSION_OVERDUE + timedelta(seconds=1)
    assert orders_admit_overdue(now=later) == 3  # and beat admits the held orders anyway
    assert Order.objects.get(pk=held).status == "pending_approval"


@pytest.mark.django_db
def test_a_broker_down_at_commit_does_not_fail_the_submission(
    world, api_as, publishes, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(celery_app, "send_task", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        answer = order_via_api(api_as(world["alice"]), world, admit=False)
    assert answer.status_code == 201
    assert "broker unreachable" in caplog.text  # logged, not raised
    assert Order.objects.get(pk=answer.data["id"]).status == "submitted"
    # The message waits in the outbox, which the workers' relay publishes when the broker is
    # back; orders submitted meanwhile are admitted by that task (the flag holds them back).
    kept = OutboxMessage.objects.get()
    assert (kept.task, kept.args) == (admit_submitted.name, [])
    assert ADMISSION_FLAG in cache


@pytest.mark.worker
def test_the_worker_admits_what_the_api_submitted(world, api_as, celery_worker_process):
    answer = order_via_api(api_as(world["alice"]), world, admit=False)
    assert answer.status_code == 201 and answer.data["status"] == "submitted"
    wait_until(
        lambda: Order.objects.get(pk=answer.data["id"]).status == "pending_approval",
        what="the worker admitted the order",
    )
    assert QuotaEntry.objects.get(order_id=answer.data["id"]).status == LedgerStatus.RESERVED
