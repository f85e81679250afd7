"""Recovery in seconds: a database error inside a step is transient, and a step waiting for its
retry keeps its lease, so the lost-steps sweep never runs it twice at once. (The whole story on
real servers, with the times measured: tests/test_faults.py.)"""

from datetime import timedelta

import pytest
from celery import current_app as celery_app
from django.db import InterfaceError
from django.utils import timezone

from provisioning import tasks
from provisioning.models import Step
from provisioning.services.saga import STEP_LEASE, deployment_start, steps_resume
from provisioning.tests.factories import ApprovedOrderFactory
from provisioning.tests.plans import fleet_plan
from provisioning.tests.saga import failing_once_on, queued

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list:
    """The messages published (none reaches a broker): (task name, args, countdown)."""
    messages = []
    monkeypatch.setattr(
        celery_app,
        "send_task",
        lambda name, args=(), countdown=None, **options: messages.append((name, args, countdown)),
    )
    return messages


def test_a_database_error_inside_a_step_is_retried_not_failed(
    sent, django_capture_on_commit_callbacks
):
    deployment_start(order=ApprovedOrderFactory(resources=fleet_plan(2)))
    steps = queued()
    error = InterfaceError("connection already closed")
    with pytest.MonkeyPatch.context() as monkeypatch:
        failing_once_on(steps[0].pk, error, monkeypatch)
        with django_capture_on_commit_callbacks(execute=True):
            tasks.run_steps([s.pk for s in steps])  # the task, run in this process
    step = Step.objects.get(pk=steps[0].pk)
    assert (step.state, step.last_error) == ("running", "connection already closed")
    ((name, args, countdown),) = sent
    assert (name, args) == ("provisioning.tasks.run_steps", [[step.pk]]) and countdown > 0


def test_a_step_waiting_for_its_retry_keeps_its_lease(
    sent, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CANOPY_STEP_RETRY_BASE = 40  # a backoff longer than the lease
    deployment_start(order=ApprovedOrderFactory(resources=fleet_plan(1)))
    (step,) = queued()
    failing_once_on(step.pk, InterfaceError("server closed the connection"), monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_steps([step.pk])
    ((_, _, countdown),) = sent
    now = timezone.now()
    assert steps_resume(now=now + STEP_LEASE + timedelta(seconds=1)) == 0  # its retry is due
    after = now + timedelta(seconds=countdown) + STEP_LEASE + timedelta(seconds=1)
    assert steps_resume(now=after) == 1  # the retry never came: the sweep takes it over
