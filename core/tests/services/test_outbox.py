"""The transactional outbox (core.outbox) and the cache that fails soft (core.cache), each
against what really happens: a broker refusing a publish, a Redis port nobody listens on. The
whole story with real servers stopped and started is tests/test_faults.py."""

from datetime import timedelta

import pytest
from celery import current_app as celery_app
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from core.cache import RedisCache
from core.models import OutboxMessage
from core.outbox import RELAY_GRACE, outbox_enqueue, outbox_relay
from tests.fault_stack import free_port


@pytest.fixture
def broker(monkeypatch) -> dict:
    """Celery's publish, recording what it sends while `broker["up"]`, refusing otherwise."""
    state = {"up": True, "sent": []}

    def send_task(name, args=(), countdown=None, **options):
        if not state["up"]:
            raise BrokerError("Error 111 connecting to the broker. Connection refused.")
        state["sent"].append((name, args, countdown))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return state


@pytest.mark.django_db
def test_messages_are_published_once_the_transaction_commits_and_then_forgotten(
    broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox_enqueue("provisioning.tasks.run_steps", [[[1, 2]], [[3]]])
        assert broker["sent"] == []  # not before the commit
    assert broker["sent"] == [
        ("provisioning.tasks.run_steps", [[1, 2]], None),
        ("provisioning.tasks.run_steps", [[3]], None),
    ]
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_message_the_broker_refused_is_kept_and_the_relay_sends_it_when_it_is_back(
    broker, django_capture_on_commit_callbacks, caplog
):
    broker["up"] = False
    with django_capture_on_commit_callbacks(execute=True):
        outbox_enqueue("catalog.tasks.admit_submitted", [[]])  # raises nothing
    assert "the relay retries" in caplog.text
    assert OutboxMessage.objects.count() == 1

    assert outbox_relay() == 0  # younger than the grace: its publisher may still be at it
    later = timezone.now() + RELAY_GRACE + timedelta(seconds=1)
    assert outbox_relay(now=later) == 0  # still down: kept
    broker["up"] = True
    assert outbox_relay(now=later) == 1
    assert broker["sent"] == [("catalog.tasks.admit_submitted", [], None)]
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_the_relay_stops_at_the_first_refusal_and_keeps_the_rest(broker, monkeypatch):
    broker["up"] = False
    outbox_enqueue("provisioning.tasks.run_steps", [[[1]], [[2]], [[3]]])
    broker["up"] = True
    calls = []

    def refuses_the_second(name, args=(), countdown=None, **options):
        calls.append(args)
        if len(calls) == 2:
            raise BrokerError("Connection reset by peer")
        broker["sent"].append(args)

    monkeypatch.setattr(celery_app, "send_task", refuses_the_second)
    later = timezone.now() + RELAY_GRACE + timedelta(seconds=1)
    assert outbox_relay(now=later) == 1
    assert list(OutboxMessage.objects.values_list("args", flat=True)) == [[[2]], [[3]]]


@pytest.mark.django_db
def test_a_relayed_retry_keeps_what_is_left_of_its_countdown(broker):
    broker["up"] = False
    outbox_enqueue("provisioning.tasks.run_steps", [[[7]]], countdown=10)
    broker["up"] = True
    row = OutboxMessage.objects.get()
    assert outbox_relay(now=row.created_at + timedelta(seconds=4)) == 1
    ((_, _, countdown),) = broker["sent"]
    assert countdown == pytest.approx(6)


def test_a_cache_that_does_not_answer_misses_and_is_left_alone_for_a_while(caplog):
    cache = RedisCache(
        f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}},
    )
    assert cache.get("key", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("flag", True, 60) is True  # as if stored: the caller goes on alone
    cache.set("key", "value", 60)  # dropped
    assert caplog.text.count("cache unreachable") == 1  # asked once, then left alone
    cache.delete("flag")  # a delete is always tried
    assert caplog.text.count("cache unreachable") == 2
    with pytest.raises(Exception, match="Connection refused"):
        cache._cache.ping()  # what /health/ asks (cache_ping), past the soft failures
