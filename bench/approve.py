"""Approve benchmark: the median latency and the SQL queries of one approve request
(`POST /api/v1/approvals/{id}/approve/` as bob, the decision that ends a one-stage chain).

In-process (Django's test client, production settings, DEBUG off) against PostgreSQL and Redis
as deployed; no worker runs, so only the request's own work is timed (the deployment it hands to
the worker waits in the bench's own queues, purged at the end).

Run from the repository root: `.venv/bin/python bench/approve.py` (`make bench` runs it).
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust authentication) and Redis on
127.0.0.1:6379. It creates the database `$CANOPY_BENCH_APPROVE_DB` (default
`canopy_bench_approve`) and drops it on exit.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import bench_env, django_setup, drop_database, manage, recreate_database  # noqa: E402

DB_NAME = os.environ.get("CANOPY_BENCH_APPROVE_DB", "canopy_bench_approve")
REQUESTS = 60
WARMUP = 5
TARGET_QUERIES = 15
# The median measured on main before the approve was made light (bench/README.md).
BASELINE_MEDIAN_MS = float(os.environ.get("CANOPY_BENCH_APPROVE_BASELINE_MS", "122.3"))
TARGET_RATIO = 0.5


def _pending_approvals(count: int) -> list[int]:
    """`count` small linux-vm orders of alice's, admitted: each waits for bob alone."""
    from django.contrib.auth import get_user_model

    from approvals.models import ApprovalRequest
    from catalog.models import CatalogItem
    from catalog.orders import order_admit
    from catalog.services import order_submit
    from core.models import Project

    User = get_user_model()
    alice = User.objects.get(username="alice")
    project = Project.objects.get(slug="web-shop")
    item = CatalogItem.objects.get(slug="linux-vm")
    ids = []
    for i in range(count):
        order = order_submit(
            user=alice,
            item=item,
            project=project,
            parameters={"name": f"bench-approve-{i}", "size": "small"},
        )
        order_admit(order_id=order.pk)
        ids.append(ApprovalRequest.objects.get(order=order).pk)
    return ids


def measure() -> tuple[list[float], int]:
    """Latencies (ms) of the measured approve requests, and the queries of one of them."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from approvals.models import Quota
    from identity.services import api_token_issue

    bob = get_user_model().objects.get(username="bob")
    # The demo quota (20 servers) would refuse most of the orders.
    Quota.objects.filter(project__slug="web-shop").update(max_servers=None, max_vcpus=None)
    approvals = _pending_approvals(WARMUP + REQUESTS + 1)
    key = api_token_issue(user=bob, name="bench", created_by=bob).key
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")

    def approve(approval_id: int) -> None:
        response = client.post(
            f"/api/v1/approvals/{approval_id}/approve/",
            data={"comment": "ok"},
            content_type="application/json",
        )
        if response.status_code != 200:
            raise RuntimeError(f"approve #{approval_id}: HTTP {response.status_code}")

    for approval_id in approvals[:WARMUP]:
        approve(approval_id)
    latencies = []
    for approval_id in approvals[WARMUP:-1]:
        began = time.perf_counter()
        approve(approval_id)
        latencies.append((time.perf_counter() - began) * 1000)
    with CaptureQueriesContext(connection) as queries:
        approve(approvals[-1])
    return latencies, len(queries.captured_queries)


def _purge_queues() -> None:
    from portal.celery import app

    app.control.purge()


def print_report(latencies: list[float], queries: int) -> bool:
    median = statistics.median(latencies)
    ratio = median / BASELINE_MEDIAN_MS
    rows = [
        ("approve request", "requests", "median ms", "p95 ms", "queries"),
        ("now", str(len(latencies)), f"{median:.1f}",
         f"{sorted(latencies)[int(0.95 * len(latencies)) - 1]:.1f}", str(queries)),
        ("before (main, bench/README.md)", "", f"{BASELINE_MEDIAN_MS:.1f}", "", "45"),
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    queries_ok, ratio_ok = queries <= TARGET_QUERIES, ratio <= TARGET_RATIO
    print(f"\nqueries: {queries} (target <= {TARGET_QUERIES}) {'OK' if queries_ok else 'MISSED'}")
    print(f"median vs before: {ratio:.2f}x (target <= {TARGET_RATIO}x) "
          f"{'OK' if ratio_ok else 'MISSED'}")  # fmt: skip
    return queries_ok and ratio_ok


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="canopy-bench-approve-"))
    env = bench_env(tmp)
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        DJANGO_SETTINGS_MODULE="portal.settings",
        HTTPS_ONLY="false",  # plain http in-process, as `make run`
    )
    recreate_database(DB_NAME)
    try:
        manage(env, "migrate", "--verbosity", "0")
        manage(env, "seed_demo")
        django_setup(env)
        latencies, queries = measure()
        return 0 if print_report(latencies, queries) else 1
    finally:
        from django.db import connections

        _purge_queues()
        connections.close_all()
        drop_database(DB_NAME)


if __name__ == "__main__":
    sys.exit(main())
