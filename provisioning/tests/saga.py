"""The provisioning saga played in the test process: the workers' step tasks run round after
round, an order deployed to the end, and a provider call that fails once."""

import contextlib
from collections.abc import Callable

import pytest

from provisioning.models import Step
from provisioning.providers import ProviderError
from provisioning.services import saga
from provisioning.services.saga import TransientProviderError, deployment_start, step_execute
from provisioning.tests.factories import ApprovedOrderFactory


def queued() -> list[Step]:
    return list(Step.objects.filter(state="pending").exclude(queued_at=None).order_by("id"))


def run_queued(
    max_rounds: int = 200, *, each_round: Callable[[], None] | None = None
) -> list[list[Step]]:
    """Play the worker: run every queued step, round after round; returns the rounds.
    `each_round` runs first in every round (what the workers do besides, e.g. deploy orders)."""
    rounds = []
    for _ in range(max_rounds):
        if each_round is not None:
            each_round()
        ready = queued() + list(Step.objects.filter(state="running"))
        if not ready:
            return rounds
        rounds.append(ready)
        for step in ready:
            with contextlib.suppress(TransientProviderError):  # Celery would retry; so do we
                step_execute(step_id=step.pk)
    pytest.fail("the saga did not settle")


def deployed_order(**fields):
    """An approved order (`ApprovedOrderFactory`'s fields) whose deployment has run to the end."""
    order = ApprovedOrderFactory(**fields)
    deployment_start(order=order)
    run_queued()
    return order


def order_status(order) -> str:
    """The order's status now (catalog, its owner, moves it on the saga's signals)."""
    order.refresh_from_db()
    return order.status


def failing_once_on(step_pk: int, error: ProviderError, monkeypatch) -> None:
    """The provider call of one step raises `error` the first time; the others go through."""
    call_provider, failed = saga.provider_call, []

    def call(step):
        if step.pk == step_pk and not failed:
            failed.append(step.pk)
            raise error
        return call_provider(step)

    monkeypatch.setattr(saga, "provider_call", call)
