"""Provisioning benchmark: 500 servers through real Celery workers and Redis on the zero-latency
sandbox, against calling the adapter directly in a loop (throughput ratio, target >= 0.5x), and
the time from approval to the first provider call (p95 target < 1 s).

Both sides do the same provider work: `adapter.ensure` (look the server up by name, create it)
against the same sandbox tables. The loop does nothing else; the workers also run the saga (plan
the graph, queue the steps in chunks of `CANOPY_STEP_BATCH`, claim each chunk, record its results,
audit and meter them). The worker is started as deployed (`bench.run.start_worker`). The machine
may be shared, so the loop and the fleet alternate for ROUNDS rounds and the report gives the
median and the spread.

Run from the repository root: `.venv/bin/python bench/provisioning.py` (`make bench` runs it).
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust authentication) and Redis on
127.0.0.1:6379. It creates the database `canopy_bench_provisioning` and drops it on exit.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import (  # noqa: E402
    PhaseResult,
    bench_env,
    django_setup,
    drop_database,
    log_tail,
    manage,
    recreate_database,
    start_worker,
    stop_group,
)

DB_NAME = "canopy_bench_provisioning"
SERVERS = 500  # in one order: a fleet of identical servers
LATENCY_ORDERS = 50
ROUNDS = 3
TARGET_RATIO = 0.5
TARGET_P95_MS = 1000.0
TIMEOUT = 300.0  # seconds, hard limit for one phase


def _env(tmp: Path) -> dict[str, str]:
    env = bench_env(tmp)  # Redis with queues of its own, warnings only, no demo workloads
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        DJANGO_SETTINGS_MODULE="portal.settings",
    )
    return env


def _approved_order(slug: str, parameters: dict):
    from catalog.models import CatalogItem, Order
    from core.models import Project
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
    from provisioning.models import SandboxObject
    from provisioning.services import deployment_start

    _fleet_item()
    order = _approved_order("bench-fleet", {"count": SERVERS})
    result = PhaseResult("celery workers", requests=SERVERS)
    start = time.perf_counter()
    deployment_start(order=order)
    _wait(lambda: Order.objects.get(pk=order.pk).is_final, "the fleet order finished")
    result.seconds = time.perf_counter() - start
    result.errors = order.resources.exclude(state="active").count()
    SandboxObject.objects.all().delete()  # every round starts from the same (empty) cloud
    return result


def approval_to_first_call() -> PhaseResult:
    """One approval at a time on idle workers: approval → the first step's provider call."""
    from provisioning.models import Step
    from provisioning.services import deployment_start

    result = PhaseResult("approval → first call", requests=LATENCY_ORDERS)
    for i in range(-1, LATENCY_ORDERS):  # order -1 waits for the worker to start: not counted
        parameters = {"name": f"latency-{i}", "size": "small", "image": "ubuntu-24.04"}
        deployment = deployment_start(order=_approved_order("linux-vm", parameters))
        started = Step.objects.filter(deployment=deployment).exclude(started_at=None)
        _wait(started.exists, "a first provider call")
        first = min(started.values_list("started_at", flat=True))
        if i >= 0:
            result.latencies_ms.append((first - deployment.created_at).total_seconds() * 1000)
    return result


def _spread(runs: list[PhaseResult]) -> PhaseResult:
    """The median run, its latencies those of every run."""
    median = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    result = PhaseResult(median.name, requests=median.requests, seconds=median.seconds)
    result.errors = sum(r.errors for r in runs)
    result.latencies_ms = [ms for r in runs for ms in r.latencies_ms]
    return result


def print_report(
    direct_runs: list[PhaseResult], worker_runs: list[PhaseResult], latency: PhaseResult
) -> bool:
    direct, workers = _spread(direct_runs), _spread(worker_runs)
    ratios = [d.seconds / w.seconds for d, w in zip(direct_runs, worker_runs, strict=True)]
    ratio = statistics.median(ratios)
    p95 = latency.percentile(95)
    rows = [
        ("phase", "servers", "median s", "min-max s", "servers/s", "p50 ms", "p95 ms"),
        *(
            (r.name, str(r.requests), f"{r.seconds:.2f}",
             f"{min(x.seconds for x in runs):.2f}-{max(x.seconds for x in runs):.2f}",
             f"{r.rps:.1f}", f"{r.percentile(50):.1f}", f"{r.percentile(95):.1f}")
            for r, runs in ((direct, direct_runs), (workers, worker_runs))
        ),
        (latency.name, str(latency.requests), "", "", "",
         f"{latency.percentile(50):.1f}", f"{p95:.1f}"),
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    ratio_ok, p95_ok = ratio >= TARGET_RATIO, p95 < TARGET_P95_MS
    print(f"\nthroughput ratio workers/loop: {ratio:.2f}x, median of {len(ratios)} rounds "
          f"({min(ratios):.2f}-{max(ratios):.2f}) (target >= {TARGET_RATIO}x) "
          f"{'OK' if ratio_ok else 'MISSED'}")  # fmt: skip
    print(f"approval to first provider call p95: {p95:.0f} ms (target < {TARGET_P95_MS:.0f} ms) "
          f"{'OK' if p95_ok else 'MISSED'}")  # fmt: skip
    if workers.errors:
        print(f"{workers.errors} servers did not become active")
    return ratio_ok and p95_ok and not workers.errors


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="canopy-bench-provisioning-"))
    env = _env(tmp)
    recreate_database(DB_NAME)
    worker = None
    try:
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "seed_demo")
        django_setup(env)
        worker = start_worker(env, tmp / "worker.log")
        latency = approval_to_first_call()  # one order at a time on idle workers
        direct_runs, worker_runs = [], []
        for _ in range(ROUNDS):  # alternating, so a busy moment of the machine hits both
            direct_runs.append(direct_loop())
            worker_runs.append(through_workers())
        return 0 if print_report(direct_runs, worker_runs, latency) else 1
    except Exception:
        if worker is not None:
            print(log_tail(tmp / "worker.log"), file=sys.stderr)
        raise
    finally:
        if worker is not None:
            stop_group(worker)
        from django.db import connections

        connections.close_all()
        drop_database(DB_NAME)


if __name__ == "__main__":
    sys.exit(main())
