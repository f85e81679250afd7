"""What one saga step costs and how it ends: a constant number of queries per step whatever the
size of the graph, planning in a constant number of queries, and an unexpected error (a bug, bad
data) ending the step as failed with its message instead of leaving it running."""

import logging

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from core.models import AuditEvent
from provisioning.models import Resource, SandboxObject, Step
from provisioning.selectors import cloud_account_options
from provisioning.services import bindings, saga
from provisioning.services.saga import TransientProviderError, deployment_start, step_execute
from provisioning.tests.factories import ApprovedOrderFactory, CloudAccountFactory
from provisioning.tests.plans import fleet_plan, server_plan, web_tier_plan
from provisioning.tests.saga import order_status, queued, run_queued

pytestmark = pytest.mark.django_db


def queries_of(run) -> int:
    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured)


def step_queries(steps: list[Step]) -> list[int]:
    return [queries_of(lambda step=step: step_execute(step_id=step.pk)) for step in steps]


def test_a_step_costs_the_same_queries_whatever_the_size_of_the_fleet():
    costs = {}
    # Planning checks the pinned plan against the account's options: read once, then cached.
    account = CloudAccountFactory()
    cloud_account_options(account=account)
    for count in (2, 8):
        order = ApprovedOrderFactory(resources=fleet_plan(count), cloud_account=account)
        planning = queries_of(lambda order=order: deployment_start(order=order))
        steps = queued()
        assert len(steps) == count  # every server at once: nothing to wait for
        *running, closing = step_queries(steps)
        costs[count] = (planning, set(running))
        assert order_status(order) == "completed"
        assert closing > max(running)  # the last one also closes the deployment and the order
    assert costs[2] == costs[8]
    planning, (per_step,) = costs[8]
    # claim (BEGIN, SELECT, UPDATE, COMMIT), find and create at the sandbox, then record
    # (BEGIN, SELECT, UPDATE resource, audit, event, UPDATE step, lock deployment, is it done?,
    # COMMIT); lifecycle receivers may add their own.
    assert per_step <= 17


def test_steps_of_a_bigger_graph_cost_no_more_queries():
    most = []
    for instances in (1, 4):
        order = ApprovedOrderFactory(
            resources=web_tier_plan(name=f"shop{instances}", instances=instances)
        )
        deployment_start(order=order)
        costs = []
        while steps := queued():
            costs += step_queries(steps)
        assert order_status(order) == "completed"
        most.append(max(costs))
    assert most[0] == most[1]


def test_queued_create_steps_put_their_resources_in_provisioning_at_once():
    order = ApprovedOrderFactory(resources=web_tier_plan(name="shop", instances=2))
    deployment_start(order=order)
    states = dict(order.resources.values_list("key", "state").distinct())
    assert states == {
        "net": "provisioning",  # queued
        "web": "planned",  # waits for the network
        "data": "planned",
        "lb": "planned",
        "dns": "planned",
    }
    network = order.resources.get(key="net")
    assert AuditEvent.objects.filter(
        order=order, target_id=str(network.pk), from_state="planned", to_state="provisioning"
    ).exists()
    step_execute(step_id=queued()[0].pk)
    servers = order.resources.filter(key="web")
    assert set(servers.values_list("state", flat=True)) == {"provisioning"}
    # Both servers, each with its own audit row.
    assert (
        AuditEvent.objects.filter(
            order=order, target_id__in=[str(s.pk) for s in servers], to_state="provisioning"
        ).count()
        == 2
    )


def _breaks_on(kind: str, error: Exception, function):
    def broken(step_or_resource, *args):
        resource = getattr(step_or_resource, "resource", step_or_resource)
        if resource.kind == kind:
            raise error
        return function(step_or_resource, *args)

    return broken


def test_an_unexpected_error_fails_the_step_and_the_order_with_its_message(monkeypatch, caplog):
    # A bug binding the load balancer's properties, after the network and servers exist.
    concrete = _breaks_on("load_balancer", KeyError("port"), bindings.concrete)
    monkeypatch.setattr(bindings, "concrete", concrete)
    order = ApprovedOrderFactory(resources=web_tier_plan(name="shop", instances=2))
    deployment_start(order=order)
    with caplog.at_level(logging.ERROR, logger="provisioning.services.saga"):
        run_queued()
    step = Step.objects.get(resource__order=order, resource__kind="load_balancer", action="create")
    assert (step.state, step.last_error) == ("failed", "KeyError: 'port'")
    assert not Step.objects.filter(state="running").exists()
    assert order_status(order) == "failed" and "KeyError: 'port'" in order.status_message
    # The saga compensated: what the deployment created is deleted at the provider.
    assert not SandboxObject.objects.exists()
    assert set(order.resources.values_list("state", flat=True)) == {"deleted"}
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.exc_info[0] is KeyError and f"step {step.pk}" in record.getMessage()


def test_an_error_recording_the_result_deletes_the_object_it_created(monkeypatch):
    monkeypatch.setattr(
        saga, "_apply", _breaks_on("server", ValueError("bad address"), saga._apply)
    )
    order = ApprovedOrderFactory(resources=server_plan(name="web-1"))
    deployment_start(order=order)
    run_queued()
    step = Step.objects.get(resource__order=order, action="create")
    assert (step.state, step.last_error) == ("failed", "ValueError: bad address")
    assert order_status(order) == "failed"
    # The server existed at the provider; compensation found it by its Canopy name.
    assert not SandboxObject.objects.exists()
    assert Resource.objects.get(order=order).state == "deleted"


def test_a_database_refusing_for_a_moment_is_retried(monkeypatch):
    calls = []
    call_provider = saga.provider_call

    def flaky(step):
        calls.append(step.pk)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return call_provider(step)

    monkeypatch.setattr(saga, "provider_call", flaky)
    order = ApprovedOrderFactory(resources=server_plan(name="web-1"))
    deployment_start(order=order)
    step = queued()[0]
    with pytest.raises(TransientProviderError):  # Celery retries it with backoff
        step_execute(step_id=step.pk)
    step.refresh_from_db()
    assert (step.state, step.last_error) == ("running", "deadlock detected")
    step_execute(step_id=step.pk)
    assert order_status(order) == "completed"
