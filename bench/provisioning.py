"""Provisioning benchmark: 500 servers through real Celery workers and Redis on the zero-latency
sandbox, against calling the adapter directly in a loop (throughput ratio, target >= 0.5x), and
the time from approval to the first provider call (p95 target < 1 s).

Run from the repository root: `.venv/bin/python bench/provisioning.py` (`make bench` runs it).
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust authentication) and Redis on
127.0.0.1:6379. It creates the database `canopy_bench_provisioning` and drops it on exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import (  # noqa: E402
    PhaseResult,
    bench_env,
    drop_database,
    log_tail,
    manage,
    recreate_database,
)

DB_NAME = "canopy_bench_provisioning"
SERVERS = 500  # in one order: a fleet of identical servers
LATENCY_ORDERS = 50
WORKER_CONCURRENCY = 4
TARGET_RATIO = 0.5
TARGET_P95_MS = 1000.0
TIMEOUT = 300.0  # seconds, hard limit for one phase


def _env(tmp: Path) -> dict[str, str]:
    env = bench_env(tmp)
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        DJANGO_SETTINGS_MODULE="portal.settings",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/14",
        # Queues of their own, so the benchmark never consumes anybody else's messages.
        CANOPY_QUEUE_PREFIX=f"bench-{uuid.uuid4().hex[:8]}-",
    )
    return env


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    from django.conf import settings

    queues = f"{settings.CANOPY_DEFAULT_QUEUE},{settings.CANOPY_PROVIDER_QUEUE}"
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues,
             "--concurrency", str(WORKER_CONCURRENCY), "--without-gossip", "--without-mingle",
             "-l", "warning"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _approved_order(slug: str, parameters: dict):
    from catalog.models import CatalogItem, Order
    from portal.models import Project
    from provisioning.models import CloudAccount

    project = Project.objects.get(slug="web-shop")
    return Order.objects.create(
        item=CatalogItem.objects.get(slug=slug),
        project=project,
        requester=project.memberships.first().user,
        cloud_account=CloudAccount.objects.get(name="sandbox"),
        status="approved",
        parameters=parameters,
    )


def _fleet_item() -> None:
    """An item of `count` identical servers: one order plans the whole fleet."""
    from catalog.models import CatalogItem, Category

    CatalogItem.objects.update_or_create(
        slug="bench-fleet",
        defaults={
            "name": "Server fleet",
            "category": Category.objects.first(),
            "parameters": {"type": "object", "properties": {"count": {"type": "integer"}}},
            "resources": [
                {
                    "key": "web",
                    "kind": "server",
                    "name": "fleet",
                    "count": "{count}",
                    "properties": {"size": "small", "image": "ubuntu-24.04"},
                }
            ],
        },
    )


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def direct_loop() -> PhaseResult:
    """The floor: the adapter called in a loop, as one process would with no queue at all."""
    from provisioning.models import CloudAccount, SandboxObject
    from provisioning.providers import get_adapter

    adapter = get_adapter(CloudAccount.objects.get(name="sandbox"))
    result = PhaseResult("adapter loop", requests=SERVERS)
    start = time.perf_counter()
    for i in range(SERVERS):
        began = time.perf_counter()
        adapter.ensure("server", f"bench-direct-{i}", {"size": "small", "image": "ubuntu-24.04"})
        result.latencies_ms.append((time.perf_counter() - began) * 1000)
    result.seconds = time.perf_counter() - start
    SandboxObject.objects.filter(name__startswith="bench-direct-").delete()
    return result


def through_workers() -> PhaseResult:
    """One approved order of 500 servers: planned as one graph, created by the worker pool."""
    from catalog.models import Order
    from provisioning.services import deployment_start

    _fleet_item()
    order = _approved_order("bench-fleet", {"count": SERVERS})
    result = PhaseResult("celery workers", requests=SERVERS)
    start = time.perf_counter()
    deployment_start(order=order)
    _wait(lambda: Order.objects.get(pk=order.pk).is_final, "the fleet order finished")
    result.seconds = time.perf_counter() - start
    result.errors = order.resources.exclude(state="active").count()
    return result


def approval_to_first_call() -> PhaseResult:
    """One approval at a time on idle workers: approval → the first step's provider call."""
    from provisioning.models import Step
    from provisioning.services import deployment_start

    result = PhaseResult("approval → first call", requests=LATENCY_ORDERS)
    for i in range(LATENCY_ORDERS):
        parameters = {"name": f"latency-{i}", "size": "small", "image": "ubuntu-24.04"}
        deployment = deployment_start(order=_approved_order("linux-vm", parameters))
        started = Step.objects.filter(deployment=deployment).exclude(started_at=None)
        _wait(started.exists, "a first provider call")
        first = min(started.values_list("started_at", flat=True))
        result.latencies_ms.append((first - deployment.created_at).total_seconds() * 1000)
    return result


def print_report(direct: PhaseResult, workers: PhaseResult, latency: PhaseResult) -> bool:
    ratio = direct.seconds / workers.seconds if workers.seconds else 0.0
    p95 = latency.percentile(95)
    rows = [
        ("phase", "servers", "seconds", "servers/s", "p50 ms", "p95 ms"),
        *(
            (r.name, str(r.requests), f"{r.seconds:.2f}", f"{r.rps:.1f}",
             f"{r.percentile(50):.1f}", f"{r.percentile(95):.1f}")
            for r in (direct, workers)
        ),
        (latency.name, str(latency.requests), "", "",
         f"{latency.percentile(50):.1f}", f"{p95:.1f}"),
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    ratio_ok, p95_ok = ratio >= TARGET_RATIO, p95 < TARGET_P95_MS
    print(f"\nthroughput ratio workers/loop: {ratio:.2f}x (target >= {TARGET_RATIO}x) "
          f"{'OK' if ratio_ok else 'MISSED'}")  # fmt: skip
    print(f"approval to first provider call p95: {p95:.0f} ms (target < {TARGET_P95_MS:.0f} ms) "
          f"{'OK' if p95_ok else 'MISSED'}")  # fmt: skip
    return ratio_ok and p95_ok and not workers.errors


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="canopy-bench-provisioning-"))
    env = _env(tmp)
    recreate_database(DB_NAME)
    worker = None
    try:
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "seed_demo")
        os.environ.update(env)
        import django

        django.setup()
        direct = direct_loop()
        worker = _start_worker(env, tmp / "worker.log")
        latency = approval_to_first_call()  # also warms the pool up
        workers = through_workers()
        return 0 if print_report(direct, workers, latency) else 1
    except Exception:
        if worker is not None:
            print(log_tail(tmp / "worker.log"), file=sys.stderr)
        raise
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        drop_database(DB_NAME)


if __name__ == "__main__":
    sys.exit(main())
