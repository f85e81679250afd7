"""Issue 3's reliability guarantees, against real `celery worker` processes and the real broker:
a worker killed mid-step, a permanent failure rolled back, and many transient failures."""

import os
import signal
import subprocess
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from provisioning.models import CloudAccount, Resource, SandboxObject, Step
from provisioning.providers import get_adapter
from provisioning.services.saga import STEP_LEASE, deployment_start, steps_resume
from provisioning.tests.factories import ApprovedOrderFactory
from provisioning.tests.plans import web_tier_plan
from provisioning.tests.saga import order_status
from tests.fixtures import _database_url_for_subprocess, _run_worker, wait_until

pytestmark = pytest.mark.worker


@pytest.fixture
def fast_retries(monkeypatch):
    """Workers started after this retry transient errors after ~50 ms instead of ~1 s."""
    monkeypatch.setenv("CANOPY_STEP_RETRY_BASE", "0.05")


def _sandbox(**options) -> None:
    """The sandbox accounts (each order's own) behave so from the next provider call on."""
    CloudAccount.objects.update(options=options)


def _one_object_per_resource(orders: list) -> None:
    resources = Resource.objects.filter(
        order__in=orders, kind__in=["server", "volume", "network", "load_balancer", "dns_record"]
    )
    names = list(SandboxObject.objects.values_list("name", flat=True))
    assert len(names) == len(set(names)), "a resource has two cloud objects"
    assert sorted(names) == sorted(r.canopy_tag for r in resources)


def _kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool processes: nothing gets to acknowledge or clean up."""
    children = subprocess.run(
        ["pgrep", "-P", str(worker.pid)], capture_output=True, text=True
    ).stdout.split()
    for pid in [worker.pid, *map(int, children)]:
        os.kill(int(pid), signal.SIGKILL)
    worker.wait(timeout=10)


def test_a_worker_killed_mid_step_is_replaced_and_the_order_completes(
    fast_retries, celery_worker_process, tmp_path
):
    order = ApprovedOrderFactory(resources=web_tier_plan(name="kill", instances=2))
    _sandbox(latency_ms=1500)  # every provider call is in flight for 1.5 s
    deployment_start(order=order)
    wait_until(
        lambda: Step.objects.filter(resource__order=order, state="running").exists(),
        what="a step in flight",
    )
    _kill_worker(celery_worker_process)
    _sandbox(latency_ms=50)

    queues = settings.CANOPY_QUEUES
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_subprocess(),
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
    }
    with open(tmp_path / "worker2.log", "w") as log:
        new_worker = _run_worker(queues, env, log)
        next(new_worker)
        try:
            # The dead worker's message stays unacknowledged at the broker; the periodic
            # resume finds the step whose worker went silent and queues it again.
            steps_resume(now=timezone.now() + STEP_LEASE + timedelta(seconds=1))
            wait_until(
                lambda: order_status(order) == "completed",
                what="order completed by the new worker",
            )
        finally:
            next(new_worker, None)
    _one_object_per_resource([order])


def test_a_permanent_failure_on_the_load_balancer_deletes_everything(
    fast_retries, celery_worker_process
):
    order = ApprovedOrderFactory(resources=web_tier_plan(name="doomed", instances=2))
    _sandbox(fail_on=["load_balancer"])
    deployment_start(order=order)
    wait_until(
        lambda: order.deployments.filter(compensates__isnull=False, state="succeeded").exists(),
        what="compensation finished",
    )
    order.refresh_from_db()
    assert order.status == "failed"
    assert "LimitExceeded: sandbox refused to create a load_balancer" in order.status_message
    assert set(order.resources.values_list("state", flat=True)) == {"deleted"}
    assert get_adapter(order.cloud_account).list_tagged() == []


def test_thirty_percent_transient_failures_across_twenty_orders(
    fast_retries, celery_worker_process
):
    orders = [
        ApprovedOrderFactory(resources=web_tier_plan(name=f"flaky{i}", instances=1))
        for i in range(20)
    ]
    _sandbox(transient_failure_rate=0.3)
    for order in orders:
        deployment_start(order=order)
    wait_until(
        lambda: all(order_status(order) == "completed" for order in orders),
        timeout=180,
        what="all 20 orders completed",
    )
    assert Step.objects.filter(attempts__gt=1).exists()  # failures were injected and retried
    _one_object_per_resource(orders)
