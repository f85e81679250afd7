"""Outages, against real services the suite starts and stops itself (tests/fault_stack.py): the
broker down while an order is approved, the cache down while one is placed, the database down
and restarted mid-saga, a worker killed mid-step. Each test leaves every service running.

The recovery times are measured and printed (`pytest -s` shows them); the assertions hold them
to the issue's deadlines."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fault_stack import Canopy

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def canopy(request) -> Iterator[Canopy]:
    failed = request.session.testsfailed
    directory = Path(tempfile.mkdtemp(prefix="canopy-faults-"))
    directory.chmod(0o755)  # the postgres user reaches its cluster inside
    started = time.monotonic()
    stack = Canopy(directory)
    print(f"private services, gunicorn and a worker ready in {time.monotonic() - started:.1f}s")
    try:
        yield stack
    finally:
        stack.close()
        if request.session.testsfailed == failed:  # else kept, with the logs
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def services_restored(canopy: Canopy) -> Iterator[None]:
    """Whatever the test stopped is running again afterwards, and the stack is healthy."""
    yield
    if canopy.broker.process is None:
        canopy.broker.start()
    if canopy.cache.process is None:
        canopy.cache.start()
    if canopy.worker.poll() is not None:
        canopy.start_worker()
    canopy.sandbox_latency(0)
    canopy.wait(canopy.healthy, timeout=60, what="the stack healthy again")


def _step_states(canopy: Canopy, order_id: int) -> list[tuple[int, str, int]]:
    """(step id, state, attempts) of the order's steps."""
    return canopy.postgres.query(
        "SELECT s.id, s.state, s.attempts FROM provisioning_step s "
        "JOIN provisioning_resource r ON r.id = s.resource_id WHERE r.order_id = %s ORDER BY s.id",
        (order_id,),
    )


def _completed(canopy: Canopy, order_id: int) -> bool:
    return canopy.order_status(order_id) == "completed"


def test_an_order_placed_while_the_cache_is_down_is_created_and_provisioned(
    canopy, services_restored
):
    canopy.api("get", "orders/", "dave")  # a token, while the cache answers (not timed)
    canopy.cache.stop()
    started = time.monotonic()
    answer = canopy.order("dave", "data-lab", "cacheless")  # small: approved by its policy
    took = time.monotonic() - started
    assert answer.status_code == 201, answer.text
    print(f"order request with the cache down: {took:.2f}s")
    order_id = answer.json()["id"]
    canopy.wait(lambda: _completed(canopy, order_id), timeout=60, what="the order provisioned")

    health = canopy.health()
    assert health.status_code == 503
    checks = health.json()["checks"]
    assert (checks["database"]["ok"], checks["broker"]["ok"], checks["cache"]["ok"]) == (
        True,
        True,
        False,
    )
    assert "cache" in checks["workers"]["error"]  # heartbeats are unknown, not absent


def test_an_approval_made_while_the_broker_is_down_provisions_once_it_is_back(
    canopy, services_restored
):
    order_id = canopy.order("alice", "web-shop", "brokerless").json()["id"]
    canopy.wait(
        lambda: canopy.order_status(order_id) == "pending_approval",
        timeout=30,
        what="the order admitted",
    )
    ((approval_id,),) = canopy.postgres.query(
        "SELECT id FROM approvals_approvalrequest WHERE order_id = %s", (order_id,)
    )

    canopy.broker.stop()
    started = time.monotonic()
    answer = canopy.api("post", f"approvals/{approval_id}/approve/", "bob", json={})
    print(
        f"approval with the broker down: {answer.status_code} in {time.monotonic() - started:.2f}s"
    )
    assert answer.status_code < 300, answer.text  # the database has the decision
    # Approving records the decision; a worker deploys it: the approved order is the record
    # that the workers' sweep (`orders_deploy_overdue`) acts on once the broker is back.
    assert canopy.order_status(order_id) == "approved"
    assert canopy.health().json()["checks"]["broker"]["ok"] is False

    canopy.broker.start()
    took = canopy.wait(lambda: _completed(canopy, order_id), timeout=60, what="the order completed")
    print(f"broker back → order completed: {took:.1f}s")
    assert canopy.postgres.query("SELECT count(*) FROM core_outboxmessage") == [(0,)]

    # Deleting goes the same way.
    canopy.broker.stop()
    answer = canopy.api("post", f"orders/{order_id}/destroy/", "alice", json={})
    assert answer.status_code < 300, answer.text
    canopy.broker.start()
    took = canopy.wait(
        lambda: (
            canopy.postgres.query(
                "SELECT DISTINCT state FROM provisioning_resource WHERE order_id = %s", (order_id,)
            )
            == [("deleted",)]
        ),
        timeout=60,
        what="the order's resources deleted",
    )
    print(f"broker back → resources deleted: {took:.1f}s")


def test_the_database_down_answers_503_with_retry_after(canopy, services_restored):
    canopy.api("get", "orders/", "alice")  # a token, while the database answers
    canopy.postgres.stop()
    try:
        api = canopy.api("get", "orders/", "alice")
        # A page whose session must be read from the database.
        page = requests.get(f"{canopy.base_url}/orders/", cookies={"sessionid": "x" * 32})
        health = canopy.health()
    finally:
        canopy.postgres.start()
    assert api.status_code == 503 and api.headers["Retry-After"].isdigit()
    assert "database" in api.json()["detail"]
    assert page.status_code == 503 and page.headers["Retry-After"].isdigit()
    assert page.headers["Content-Type"].startswith("text/html") and b"unavailable" in page.content
    assert health.status_code == 503
    checks = health.json()["checks"]
    assert (checks["database"]["ok"], checks["broker"]["ok"]) == (False, True)


def test_a_database_restart_mid_saga_costs_the_order_seconds(canopy, services_restored):
    canopy.sandbox_latency(1000)
    order_id = canopy.order("dave", "data-lab", "restarted").json()["id"]
    canopy.wait(
        lambda: any(state == "running" for _, state, _ in _step_states(canopy, order_id)),
        timeout=30,
        what="a step in flight",
    )
    restart = canopy.postgres.restart()
    took = canopy.wait(lambda: _completed(canopy, order_id), timeout=15, what="the order completed")
    print(f"PostgreSQL restart took {restart:.2f}s; order completed {took:.1f}s after it")


def test_a_killed_workers_step_is_taken_over_within_a_minute(canopy, services_restored):
    canopy.sandbox_latency(3000)
    order_id = canopy.order("dave", "data-lab", "orphan").json()["id"]
    canopy.wait(
        lambda: any(state == "running" for _, state, _ in _step_states(canopy, order_id)),
        timeout=30,
        what="a step in flight",
    )
    ((step_id, _, attempts),) = [s for s in _step_states(canopy, order_id) if s[1] == "running"]
    canopy.kill_worker()
    canopy.sandbox_latency(100)
    canopy.start_worker()
    took = canopy.wait(
        lambda: next(s for s in _step_states(canopy, order_id) if s[0] == step_id)[2] > attempts,
        timeout=60,
        what="the dead worker's step taken over",
    )
    print(f"worker SIGKILL → its step taken over: {took:.1f}s")
    canopy.wait(lambda: _completed(canopy, order_id), timeout=30, what="the order completed")
