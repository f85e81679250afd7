"""Billing benchmark: the month's chargeback report over 1,000,000 usage rows against the raw SQL
GROUP BY on the same table, the same report while the month runs (with the accrual of 10,000
running resources since the last metered hour) against raw SQL doing the same, and metering one
hour of 10,000 active resources.

Run from the repository root: `.venv/bin/python bench/billing.py` (`make bench` runs it too).
Needs PostgreSQL on 127.0.0.1:5432 with user postgres and trust authentication. It creates the
database `canopy_bench_billing` and drops it on exit.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import drop_database, recreate_database  # noqa: E402

DB_NAME = "canopy_bench_billing"
PROJECTS = 50
RESOURCES = 10_000
HOURS = 100  # RESOURCES x HOURS usage rows
RUNS = 7  # the median of these runs is reported
MONTH = datetime(2026, 10, 1, tzinfo=UTC)
REPORT_TARGET_RATIO = 1.5
REPORT_TARGET_SECONDS = 1.0
METER_TARGET_SECONDS = 5.0

RAW_SQL = """
    SELECT project_id, SUM(cost), SUM(hours), SUM(running_hours) FROM billing_usage
    WHERE hour >= %s AND hour < %s GROUP BY project_id
"""
# What the accrual reads, by hand: each live resource's state, size and creation, and the last
# metered hour (the pricing then happens in memory in both cases).
RAW_ACCRUAL_SQL = """
    SELECT r.id, r.project_id,
        (SELECT e.kind FROM provisioning_resourceevent e WHERE e.resource_id = r.id
            AND e.kind IN ('created', 'started', 'stopped', 'deleted') AND e.at < %(now)s
            ORDER BY e.at DESC, e.id DESC LIMIT 1),
        (SELECT e.size FROM provisioning_resourceevent e WHERE e.resource_id = r.id
            AND e.kind IN ('created', 'resized') AND e.at < %(now)s
            ORDER BY e.at DESC, e.id DESC LIMIT 1),
        (SELECT e.at FROM provisioning_resourceevent e WHERE e.resource_id = r.id
            AND e.kind = 'created' ORDER BY e.at LIMIT 1),
        (SELECT MAX(u.hour) FROM billing_usage u WHERE u.hour < %(now)s)
    FROM provisioning_resource r
    WHERE EXISTS (SELECT 1 FROM provisioning_resourceevent e
                  WHERE e.resource_id = r.id AND e.at < %(now)s)
      AND NOT EXISTS (SELECT 1 FROM provisioning_resourceevent e
                      WHERE e.resource_id = r.id AND e.kind = 'deleted' AND e.at < %(now)s)
"""


def setup_django(tmp: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        DEBUG="false",
        SECRET_KEY="bench-only-not-a-secret",
        CELERY_BROKER_URL="filesystem://",
        CANOPY_VAR_DIR=str(tmp / "var"),
        EMAIL_URL="memorymail://",
        LOG_LEVEL="WARNING",
        CANOPY_DEMO_WORKLOAD="false",  # exactly the resources this bench seeds
    )
    import django

    django.setup()


def seed() -> None:
    """The demo organization, PROJECTS projects, RESOURCES servers each with a `created` event,
    and RESOURCES x HOURS usage rows written by one INSERT … SELECT over generate_series."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from billing.services.rollups import rollups_rebuild
    from catalog.models import CatalogItem, Order
    from core.models import Organization, OrganizationRole, Project
    from core.services import organization_membership_add
    from provisioning.models import CloudAccount, Resource

    call_command("migrate", "--noinput", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    acme = Organization.objects.get(slug="acme")
    Project.objects.bulk_create(
        Project(organization=acme, name=f"p-{i}", slug=f"p-{i}", cost_center=f"CC-{i % 10}")
        for i in range(PROJECTS - Project.objects.count())
    )
    # Finance again, now that every project exists: it reads the whole organization.
    carol = User.objects.get(username="carol")
    organization_membership_add(user=carol, organization=acme, role=OrganizationRole.FINANCE)
    item = CatalogItem.objects.get(slug="linux-vm")
    orders = Order.objects.bulk_create(
        Order(item=item, project=project, requester=carol, parameters={})
        for project in Project.objects.all()
    )
    account = CloudAccount.objects.get(name="sandbox")
    Resource.objects.bulk_create(
        (
            Resource(
                order=orders[i % len(orders)],
                project_id=orders[i % len(orders)].project_id,
                cloud_account=account,
                kind="server",
                name=f"vm-{i}",
                properties={"size": "small"},
            )
            for i in range(RESOURCES)
        ),
        batch_size=2000,
    )
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO provisioning_resourceevent
                (resource_id, kind, at, size, quantity, properties)
            SELECT id, 'created', %s, 'small', 1, '{}'::jsonb FROM provisioning_resource
            """,
            [MONTH],
        )
        cur.execute(
            f"""
            INSERT INTO billing_usage (resource_id, hour, kind, size, quantity, unit, hours,
                running_hours, rate, idle_rate, one_time, cost, organization_id, project_id,
                cost_center, user_id, catalog_item_id, cloud_account_id, provider, metered_at)
            SELECT r.id, %s + make_interval(hours => h), r.kind, 'small', 1, 'each', 1, 1,
                0.02, 0, 0, 0.02, p.organization_id, r.project_id, p.cost_center,
                o.requester_id, o.item_id, r.cloud_account_id, 'sandbox', now()
            FROM generate_series(0, %s - 1) AS h
            CROSS JOIN provisioning_resource r
            JOIN {Project._meta.db_table} p ON p.id = r.project_id
            JOIN catalog_order o ON o.id = r.order_id
            """,
            [MONTH, HOURS],
        )
    # The reports read the rollups metering keeps; rows written by SQL get them as migration
    # billing.0008 gives them to rows metered before the rollups existed.
    rollups_rebuild()
    with connection.cursor() as cur:
        cur.execute("ANALYZE")


def median_seconds(fn: Callable[[], object], runs: int = RUNS) -> float:
    fn()  # warm caches and the connection
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="canopy-bench-billing-") as tmp:
        try:
            recreate_database(DB_NAME)
        except psycopg2.OperationalError as exc:
            raise SystemExit(
                f"bench needs PostgreSQL on 127.0.0.1:5432, user postgres: {exc}"
            ) from exc
        try:
            setup_django(Path(tmp))
            return run()
        finally:
            from django.db import connections

            connections.close_all()
            drop_database(DB_NAME)


def run() -> int:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.accrual import running_costs
    from billing.models import Usage
    from billing.selectors.chargeback import chargeback_report
    from billing.selectors.periods import month_period
    from billing.services.metering import meter_hour
    from provisioning.models import Resource

    print(f"seeding {RESOURCES:,} resources and {RESOURCES * HOURS:,} usage rows", flush=True)
    started = time.perf_counter()
    seed()
    print(f"seeded in {time.perf_counter() - started:.1f} s", flush=True)

    carol = User.objects.get(username="carol")
    period = month_period(MONTH.date())

    def report() -> object:
        return chargeback_report(user=carol, period=period, group_by="project")

    def raw() -> object:
        with connection.cursor() as cur:
            cur.execute(RAW_SQL, [period.start, period.end])
            return cur.fetchall()

    checked = report()
    assert len(checked.rows) == PROJECTS, len(checked.rows)
    report_s, raw_s = median_seconds(report), median_seconds(raw)

    # The month still running: twenty minutes after the last metered hour, every resource runs.
    now = MONTH + timedelta(hours=HOURS, minutes=20)

    def report_now() -> object:
        return chargeback_report(user=carol, period=period, group_by="project", now=now)

    def raw_now() -> object:
        with connection.cursor() as cur:
            cur.execute(RAW_SQL, [period.start, period.end])
            grouped = cur.fetchall()
            cur.execute(RAW_ACCRUAL_SQL, {"now": now})
            return grouped, cur.fetchall()

    def accrual_only() -> object:
        return running_costs(
            resources=Resource.objects.all(), start=period.start, end=period.end, now=now
        )

    live = report_now()
    assert live.includes_now and live.accrued > 0 and len(live.rows) == PROJECTS
    with CaptureQueriesContext(connection) as queries:
        accrued = accrual_only()
    assert len(accrued) == RESOURCES, len(accrued)
    accrual_queries = len(queries.captured_queries)
    report_now_s, raw_now_s = median_seconds(report_now), median_seconds(raw_now)
    accrual_s = median_seconds(accrual_only)

    hour = MONTH + timedelta(hours=HOURS)  # past the generated rows: every resource is new
    start = time.perf_counter()
    metered = meter_hour(hour=hour)
    meter_s = time.perf_counter() - start
    start = time.perf_counter()
    meter_hour(hour=hour)  # the same hour again: nothing is charged twice
    remeter_s = time.perf_counter() - start
    assert metered == RESOURCES == Usage.objects.filter(hour=hour).count(), metered

    ratio = report_s / raw_s
    ok_report = ratio <= REPORT_TARGET_RATIO and report_s < REPORT_TARGET_SECONDS
    ratio_now = report_now_s / raw_now_s
    ok_now = ratio_now <= REPORT_TARGET_RATIO and report_now_s < REPORT_TARGET_SECONDS
    rows = [
        ("report by project (1M rows)", f"{report_s * 1000:.0f} ms", ""),
        ("raw SQL GROUP BY", f"{raw_s * 1000:.0f} ms", ""),
        (
            "ratio report / raw",
            f"{ratio:.2f}x",
            f"target <= {REPORT_TARGET_RATIO}x and < 1 s: {'ok' if ok_report else 'MISSED'}",
        ),
        (
            f"meter one hour ({RESOURCES:,} resources)",
            f"{meter_s:.2f} s",
            f"target < {METER_TARGET_SECONDS:.0f} s: "
            f"{'ok' if meter_s < METER_TARGET_SECONDS else 'MISSED'}",
        ),
        ("meter the same hour again", f"{remeter_s:.2f} s", "no new rows"),
        (
            f"report with accrual ({RESOURCES:,} running)",
            f"{report_now_s * 1000:.0f} ms",
            "",
        ),
        ("raw SQL GROUP BY + accrual SELECT", f"{raw_now_s * 1000:.0f} ms", ""),
        (
            "ratio report / raw, with accrual",
            f"{ratio_now:.2f}x",
            f"target <= {REPORT_TARGET_RATIO}x and < 1 s: {'ok' if ok_now else 'MISSED'}",
        ),
        (
            "accrual alone",
            f"{accrual_s * 1000:.0f} ms",
            # However many resources run: the last metered hour, its usage rows for what did not
            # change since, the changed resources and their rates.
            f"{accrual_queries} queries (hour, its rows, changed resources, rates): "
            f"{'ok' if accrual_queries <= 4 else 'MISSED'}",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'measure'.ljust(width)}  {'time':>9}  notes")
    for name, value, note in rows:
        print(f"{name.ljust(width)}  {value:>9}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
