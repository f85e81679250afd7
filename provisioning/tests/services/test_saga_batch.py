"""Ready steps run in chunks: one task and one recording transaction per chunk, yet every step
ends on its own (a transient error retries that step alone, a permanent one fails it and the saga
compensates the others, a worker dying midway leaves steps that resume without duplicates), and
a chunk costs the same queries whatever its size."""

import time
from datetime import timedelta

import pytest
from celery import current_app as celery_app
from django.utils import timezone

from provisioning import tasks
from provisioning.models import Resource, SandboxObject, Step
from provisioning.providers import ProviderError
from provisioning.services import saga
from provisioning.services.saga import STEP_LEASE, deployment_start, steps_execute, steps_resume
from provisioning.tests.factories import ApprovedOrderFactory
from provisioning.tests.plans import fleet_plan
from provisioning.tests.saga import failing_once_on, order_status, queued, run_queued

pytestmark = pytest.mark.django_db


def test_ready_steps_go_in_chunks_of_the_batch_size_spread_over_workers(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CANOPY_STEP_BATCH, settings.CANOPY_STEP_SPREAD = 20, 2
    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args, **options: sent.append(*args))
    # 50 steps: ceil(50 / 20) = 3 chunks; 3 steps: 2 chunks, one per worker.
    for count, chunks in ((50, 3), (3, 2)):
        sent.clear()
        order = ApprovedOrderFactory(resources=fleet_plan(count))
        with django_capture_on_commit_callbacks(execute=True):
            deployment_start(order=order)
        sizes = sorted(map(len, sent))
        assert len(sent) == chunks and sizes[-1] <= 20 and sizes[-1] - sizes[0] <= 1
        steps = Step.objects.filter(deployment__order=order).order_by("pk")
        assert sorted(pk for chunk in sent for pk in chunk) == [s.pk for s in steps]


def test_a_transient_error_retries_only_its_own_step(monkeypatch):
    order = ApprovedOrderFactory(resources=fleet_plan(4))
    deployment_start(order=order)
    steps = queued()
    flaky = steps[1]
    failing_once_on(flaky.pk, ProviderError("Throttling", transient=True), monkeypatch)
    retried = []
    monkeypatch.setattr(
        saga, "steps_enqueue", lambda chunks, countdown: retried.append((chunks, countdown))
    )
    tasks.run_steps([s.pk for s in steps])  # the task, run in this process
    (((step_ids,), countdown),) = retried
    assert step_ids == [flaky.pk] and countdown > 0  # that step alone, after a backoff
    states = dict(Step.objects.filter(deployment__order=order).values_list("pk", "state"))
    assert states == {s.pk: "running" if s == flaky else "done" for s in steps}
    flaky.refresh_from_db()
    assert (flaky.attempts, flaky.last_error) == (1, "Throttling")
    assert order_status(order) == "provisioning"
    assert steps_execute(step_ids=step_ids) == []  # the retry
    flaky.refresh_from_db()
    assert (flaky.state, flaky.attempts) == ("done", 2)
    assert order_status(order) == "completed"
    assert SandboxObject.objects.count() == len(steps)


def test_a_permanent_error_fails_its_step_and_compensation_deletes_the_others(monkeypatch):
    order = ApprovedOrderFactory(resources=fleet_plan(4))
    deployment_start(order=order)
    steps = queued()
    doomed = steps[2]
    failing_once_on(doomed.pk, ProviderError("InsufficientInstanceCapacity"), monkeypatch)
    assert steps_execute(step_ids=[s.pk for s in steps]) == []
    doomed.refresh_from_db()
    assert (doomed.state, doomed.last_error) == ("failed", "InsufficientInstanceCapacity")
    # The other three were created and recorded before the saga turned back.
    assert SandboxObject.objects.count() == len(steps) - 1
    assert order_status(order) == "failed"
    assert "InsufficientInstanceCapacity" in order.status_message
    run_queued()  # the compensating deployment
    assert not SandboxObject.objects.exists()
    assert set(Resource.objects.filter(order=order).values_list("state", flat=True)) == {"deleted"}


def test_a_chunk_costs_the_same_queries_whatever_its_size(settings, query_baseline):
    settings.CANOPY_STEP_BATCH = 50
    costs = {}
    for count in (2, 10):
        order = ApprovedOrderFactory(resources=fleet_plan(count))
        deployment_start(order=order)
        ids = [s.pk for s in queued()]
        # The provider's own calls (the sandbox's lookup and insert) are per server, as in a
        # loop calling the adapter; Canopy's bookkeeping is not: claim (UPDATE, SELECT), then
        # record (BEGIN, lock steps, UPDATE resources, audit, events, UPDATE steps, lock
        # deployment, is it done?, close it and the order…, COMMIT); at most 25 when pinned
        # here first.
        with query_baseline("provisioning.steps_chunk", ignore="sandboxobject") as captured:
            steps_execute(step_ids=ids)
        assert order_status(order) == "completed"
        costs[count] = len([q for q in captured if "sandboxobject" not in q["sql"]])
    assert costs[2] == costs[10]


@pytest.mark.django_db(transaction=True)  # the lease is renewed from another connection
def test_a_long_chunk_keeps_its_steps_alive(monkeypatch):
    monkeypatch.setattr(saga, "HEARTBEAT", 0.05)
    deployment_start(order=ApprovedOrderFactory(resources=fleet_plan(3)))
    steps = queued()
    beats = []
    call_provider = saga.provider_call

    def slow_call(step):
        beats.append(Step.objects.get(pk=steps[-1].pk).heartbeat_at)
        time.sleep(0.2)  # a provider call four beats long
        return call_provider(step)

    monkeypatch.setattr(saga, "provider_call", slow_call)
    steps_execute(step_ids=[s.pk for s in steps])
    # The last step's lease is renewed while the chunk's earlier calls run.
    assert beats == sorted(beats) and len(set(beats)) == len(steps)


class WorkerKilled(BaseException):
    """The worker dies (SIGKILL): nothing after this point of the chunk runs."""


def test_a_chunk_whose_worker_died_midway_is_resumed_without_duplicates(monkeypatch):
    order = ApprovedOrderFactory(resources=fleet_plan(4))
    deployment_start(order=order)
    steps = queued()
    call_provider, calls = saga.provider_call, []

    def dies_on_the_third_call(step):
        calls.append(step.pk)
        if len(calls) == 3:
            raise WorkerKilled
        return call_provider(step)

    monkeypatch.setattr(saga, "provider_call", dies_on_the_third_call)
    with pytest.raises(WorkerKilled):
        steps_execute(step_ids=[s.pk for s in steps])
    assert SandboxObject.objects.count() == 2  # created, never recorded
    assert set(Step.objects.filter(deployment__order=order).values_list("state", flat=True)) == {
        "running"
    }
    monkeypatch.setattr(saga, "provider_call", call_provider)
    later = timezone.now() + STEP_LEASE + timedelta(seconds=1)
    assert steps_resume(now=later) == len(steps)  # the lease ran out: all four again
    assert steps_execute(step_ids=[s.pk for s in steps]) == []
    assert order_status(order) == "completed"
    names = list(SandboxObject.objects.values_list("name", flat=True))
    assert sorted(names) == sorted(r.canopy_tag for r in Resource.objects.filter(order=order))
