"""Scale benchmark: the pages and periodic jobs that read the whole estate, at the size a real
platform team reaches (200 projects, 100,000 resources of which about 65,000 run, 10 M hourly
usage rows over three months), each timed against its target with its SQL query count.

Run from the repository root: `.venv/bin/python bench/scale.py` (`make bench-scale`); smaller
with `--resources 10000 --usage-rows 1000000` while developing. Needs PostgreSQL on
127.0.0.1:5432 with user postgres and trust authentication; it creates the database
`canopy_bench_scale` (or $CANOPY_BENCH_DB) and drops it on exit. The population is written with
set-based SQL (INSERT … SELECT over generate_series), so building it takes minutes, not hours.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.run import (  # noqa: E402
    drop_database,
    log_tail,
    recreate_database,
    start_worker,
    stop_group,
)

DB_NAME = os.environ.get("CANOPY_BENCH_DB", "canopy_bench_scale")
PROJECTS = 200
RESOURCES_PER_ORDER = 10
# Of every 20 resources: 13 run (65 %), 2 are stopped, 5 were deleted.
RUNNING, STOPPED = 13, 2
MIB = 1024 * 1024


@dataclass
class Row:
    what: str
    seconds: float
    queries: int | None
    target: str
    ok: bool | None
    note: str = ""


def django_env(tmp: Path) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        "DEBUG": "false",
        "HTTPS_ONLY": "false",  # plain http on loopback, as `make run`
        "SECRET_KEY": "bench-only-not-a-secret",
        "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        "CELERY_BROKER_URL": "filesystem://",
        "CANOPY_VAR_DIR": str(tmp / "var"),
        "EMAIL_URL": "memorymail://",
        "LOG_LEVEL": "ERROR",
        "CANOPY_DEMO_WORKLOAD": "false",  # exactly the population this bench writes
    }


def setup_django(tmp: Path) -> None:
    os.environ.update(django_env(tmp))
    import django

    django.setup()


# --- the population -----------------------------------------------------------------------
def insert_select(model, exprs: dict[str, str], source: str, params: dict | None = None) -> int:
    """INSERT INTO model's table SELECT …: `exprs` gives SQL for some columns (by field name,
    with %(name)s parameters); every other column takes its field's Python default, so a new
    column with a default does not break the bench."""
    from django.db import connection

    columns, values, args = [], [], dict(params or {})
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in exprs:
            values.append(exprs[field.name])
        else:
            default = None if field.null and not field.has_default() else field.get_default()
            if field.get_internal_type() == "JSONField":
                default = json.dumps(default)
            values.append(f"%(default_{field.column})s")
            args[f"default_{field.column}"] = default
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} {source}"
    )
    with connection.cursor() as cur:
        # The rows are consistent by construction: skip the per-row foreign-key triggers, which
        # would make ten million rows take half an hour.
        cur.execute("SET session_replication_role = replica")
        try:
            cur.execute(sql, args)
            return cur.rowcount
        finally:
            cur.execute("SET session_replication_role = DEFAULT")


def seed(*, resources: int, usage_rows: int, now: datetime) -> dict:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection

    from billing.models import Usage
    from billing.services.rollups import rollups_rebuild
    from catalog.models import CatalogItem, Order
    from core.models import Organization, OrganizationRole, Project
    from core.services import organization_membership_add
    from lifecycle.models import IdlePolicy
    from provisioning.models import CloudAccount, Resource, ResourceEvent, SandboxObject

    call_command("migrate", "--noinput", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # DEBUG off: the manifest's names
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    acme = Organization.objects.get(slug="acme")
    Project.objects.bulk_create(
        Project(
            organization=acme,
            name=f"team-{i:03d}",
            slug=f"team-{i:03d}",
            cost_center=f"CC-{i % 20:03d}",
        )
        for i in range(PROJECTS - Project.objects.count())
    )
    carol = User.objects.get(username="carol")  # finance reads the whole organization
    organization_membership_add(user=carol, organization=acme, role=OrganizationRole.FINANCE)
    alice = User.objects.get(username="alice")
    item = CatalogItem.objects.get(slug="linux-vm")
    account = CloudAccount.objects.get(provider="sandbox")
    project_ids = list(Project.objects.order_by("id").values_list("id", flat=True))
    start = now - timedelta(days=90)
    orders = resources // RESOURCES_PER_ORDER
    spread = (
        "%(start)s + make_interval(mins => (n::bigint * 129600 / %(count)s)::int)"  # over 90 days
    )

    # Orders: alice requests them, spread over the projects and the three months.
    insert_select(
        Order,
        {
            "item": "%(item)s",
            "project": f"(ARRAY{project_ids})[1 + n %% {len(project_ids)}]",
            "requester": "%(alice)s",
            "cloud_account": "%(account)s",
            "status": "'completed'",
            "estimated_monthly_cost": "29.20",
            "created_at": spread,
            "updated_at": spread,
        },
        "FROM generate_series(0, %(count)s - 1) AS n",
        {
            "item": item.pk,
            "alice": alice.pk,
            "account": account.pk,
            "start": start,
            "count": orders,
        },
    )
    first_order = Order.objects.order_by("id").values_list("id", flat=True).first()
    order_of_n = f"{first_order} + n / {RESOURCES_PER_ORDER}"
    # Resources: RESOURCES_PER_ORDER of each order; servers (70 %), volumes and networks; the
    # state by n % 20 (RUNNING active, STOPPED stopped, the rest deleted).
    state = (
        f"CASE WHEN n % 20 < {RUNNING} THEN 'active' "
        f"WHEN n % 20 < {RUNNING + STOPPED} THEN 'stopped' ELSE 'deleted' END"
    ).replace("%", "%%")
    kind = "CASE WHEN n %% 10 < 7 THEN 'server' WHEN n %% 10 < 9 THEN 'volume' ELSE 'network' END"
    insert_select(
        Resource,
        {
            "order": order_of_n,
            "project": f"(SELECT project_id FROM catalog_order WHERE id = {order_of_n})",
            "cloud_account": "%(account)s",
            "kind": kind,
            "name": "'vm-' || n",
            "state": state,
            "external_id": "'sbx-' || n",
            "properties": 'CASE WHEN n %% 10 < 7 THEN \'{"size": "small"}\'::jsonb '
            "ELSE '{\"size_gb\": 20}'::jsonb END",
            "created_at": spread,
            "state_changed_at": spread,
        },
        "FROM generate_series(0, %(count)s - 1) AS n",
        {"account": account.pk, "start": start, "count": resources},
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    created_at = "r.created_at"
    events = [("created", created_at, "TRUE")]
    events.append(("stopped", f"{created_at} + interval '1 day'", "r.state = 'stopped'"))
    events.append(("deleted", f"{created_at} + interval '2 days'", "r.state = 'deleted'"))
    for event_kind, at, where in events:
        insert_select(
            ResourceEvent,
            {
                "resource": "r.id",
                "kind": f"'{event_kind}'",
                "at": at,
                "size": "COALESCE(r.properties->>'size', '')",
                "quantity": "COALESCE((r.properties->>'size_gb')::numeric, 1)",
            },
            f"FROM provisioning_resource r WHERE {where}",
        )
    # The sandbox cloud holds what runs or is stopped, tagged as Canopy tags it.
    insert_select(
        SandboxObject,
        {
            "account": "r.cloud_account_id",
            "external_id": "r.external_id",
            "name": "'canopy-' || r.id",
            "kind": "r.kind",
            "state": "CASE WHEN r.state = 'active' THEN 'running' ELSE 'stopped' END",
            "size": "COALESCE(r.properties->>'size', '')",
            "created_at": "r.created_at",
        },
        "FROM provisioning_resource r WHERE r.state IN ('active', 'stopped')",
    )
    # Usage: `hours_each` consecutive hours per resource from its creation, priced like the
    # demo's small server, charged to the order's project, cost center and requester.
    hours_each = max(1, usage_rows // resources)
    insert_select(
        Usage,
        {
            "resource": "r.id",
            "hour": "date_trunc('hour', r.created_at) + make_interval(hours => h)",
            "kind": "r.kind",
            "size": "COALESCE(r.properties->>'size', '')",
            "quantity": "1",
            "hours": "1",
            "running_hours": "1",
            "rate": "0.04",
            "idle_rate": "0.004",
            "cost": "0.04",
            "organization": "p.organization_id",
            "project": "r.project_id",
            "cost_center": "p.cost_center",
            "user": "o.requester_id",
            "catalog_item": "o.item_id",
            "cloud_account": "r.cloud_account_id",
            "provider": "'sandbox'",
            "metered_at": "now()",
        },
        "FROM provisioning_resource r JOIN core_project p ON p.id = r.project_id "
        "JOIN catalog_order o ON o.id = r.order_id "
        "CROSS JOIN generate_series(0, %(hours)s - 1) AS h "
        "WHERE date_trunc('hour', r.created_at) + make_interval(hours => h) < %(until)s",
        {"hours": hours_each, "until": now - timedelta(hours=2)},
    )
    # What migration billing.0008 does for rows metered before the rollups, for rows written by SQL.
    started = time.perf_counter()
    rollups_rebuild()
    print(f"usage rollups built in {time.perf_counter() - started:.0f} s", flush=True)
    IdlePolicy.objects.create(
        organization=acme,
        name="Acme idle servers",
        window=timedelta(hours=1),
        notify_after=timedelta(hours=1),
    )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")  # autocommit: as after a day of autovacuum
    return {"projects": len(project_ids), "orders": orders}


# --- measuring ----------------------------------------------------------------------------
def measure(fn: Callable[[], object], runs: int) -> tuple[float, int]:
    """The median seconds of `runs` calls after one warm-up that counts the SQL statements; with
    no runs, the time of that one call (a job whose second run would find nothing to do)."""
    from django.db import connection

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        fn()
    if not runs:
        return time.perf_counter() - started, statements
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), statements


class Fetch:
    """GET a page as a browser would, reading a streamed answer to its end; `size` is the
    last answer's length in bytes."""

    def __init__(self, client, path: str) -> None:
        self.client, self.path, self.size = client, path, 0

    def __call__(self) -> None:
        answer = self.client.get(self.path)
        assert answer.status_code == 200, (self.path, answer.status_code)
        if answer.streaming:
            self.size = sum(len(chunk) for chunk in answer.streaming_content)
        else:
            self.size = len(answer.content)


def rss_after_serving(tmp: Path, paths: list[str]) -> int:
    """The resident memory of a fresh process that served `paths` as the admin (a gunicorn
    worker's life in small: the estate-wide pages, the reports and the CSVs), in bytes."""
    code = (
        "import django, sys; django.setup()\n"
        "from django.contrib.auth.models import User\n"
        "from django.test import Client\n"
        "c = Client(); c.force_login(User.objects.get(username='admin'))\n"
        "for p in sys.argv[1:]:\n"
        "    r = c.get(p); assert r.status_code == 200, (p, r.status_code)\n"
        "    b''.join(r.streaming_content) if r.streaming else r.content\n"
        "print(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])\n"
    )
    env = {**os.environ, **django_env(tmp)}
    out = subprocess.run(
        [sys.executable, "-c", code, *paths],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip().splitlines()[-1]) * 1024


WORKER_TIMEOUT = 900.0  # seconds for the worker to run every job


def pool_rss(pid: int) -> list[int]:
    """The resident memory (bytes) of each child process of `pid`: a prefork worker's pool."""
    sizes = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The parent's pid is the 2nd field after the command, which is in parentheses.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != pid:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
        sizes.append(int(status.split("VmRSS:")[1].split()[0]) * 1024)
    return sizes


def worker_rss_after_jobs(tmp: Path, jobs: list[tuple[str, dict]]) -> tuple[int, float]:
    """Run the periodic jobs in a Celery worker as deployed (`bench.run.start_worker`: prefork,
    one pool process per CPU) through the broker, as beat and the export request send them;
    once each has finished, the largest resident memory of its pool processes in bytes, and
    how long the jobs took."""
    from portal.celery import app

    log_path = tmp / "worker.log"
    worker = start_worker({**os.environ, **django_env(tmp)}, log_path, log_level="info")
    try:
        started = time.perf_counter()
        for name, kwargs in jobs:
            app.send_task(name, kwargs=kwargs)
        # Results are not kept (CELERY_RESULT_BACKEND is None): the worker's log says when.
        while (done := log_path.read_text().count(" succeeded in ")) < len(jobs):
            if " raised " in log_path.read_text() or worker.poll() is not None:
                raise RuntimeError(f"the worker failed a job:\n{log_tail(log_path)}")
            if time.perf_counter() - started > WORKER_TIMEOUT:
                raise RuntimeError(f"{done} of {len(jobs)} jobs done:\n{log_tail(log_path)}")
            time.sleep(0.5)
        return max(pool_rss(worker.pid)), time.perf_counter() - started
    finally:
        stop_group(worker)


def run(args: argparse.Namespace, tmp: Path) -> list[Row]:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from billing.selectors.periods import month_period
    from billing.services.exports import usage_export_write
    from billing.services.metering import hour_floor, meter_hour
    from billing.services.statements import statements_close
    from lifecycle.services.reclaim import reclaim_evaluate
    from provisioning.models import CloudAccount
    from provisioning.services.reconciler import reconcile_account

    now = timezone.now()
    if args.reuse:
        # A population kept by --keep: only the migrations added since are applied.
        call_command("migrate", "--noinput", verbosity=0)
        print(f"reusing the population in {DB_NAME}", flush=True)
    else:
        print(
            f"seeding {PROJECTS} projects, {args.resources:,} resources, "
            f"{args.usage_rows:,} usage rows …",
            flush=True,
        )
        started = time.perf_counter()
        seed(resources=args.resources, usage_rows=args.usage_rows, now=now)
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)

    clients = {}
    for name in ("admin", "carol", "alice"):
        clients[name] = Client()
        clients[name].force_login(User.objects.get(username=name))
    this_month = now.strftime("%Y-%m")
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    runs = args.runs
    rows: list[Row] = []

    def wanted(what: str) -> bool:
        return not args.only or any(part.lower() in what.lower() for part in args.only)

    served: list[str] = []  # every page the bench times, which the web process's RSS row serves

    def page(what: str, user: str, path: str, target_s: float, note: str = "") -> None:
        served.append(path)
        if not wanted(what):
            return
        fetch = Fetch(clients[user], path)
        cpu = time.process_time()
        seconds, queries = measure(fetch, runs)
        # This process's CPU per request (the warm-up included; PostgreSQL's not): on a shared
        # machine it moves less than the wall time does.
        cpu_ms = (time.process_time() - cpu) / (runs + 1) * 1000
        rows.append(
            Row(
                what,
                seconds,
                queries,
                f"< {target_s * 1000:.0f} ms",
                seconds < target_s,
                note or f"{fetch.size / MIB:.2f} MB, CPU {cpu_ms:.0f} ms",
            )
        )

    def job(what: str, fn: Callable[[], object], target_s: float) -> None:
        if not wanted(what):
            return
        cpu = time.process_time()
        seconds, queries = measure(fn, 0)
        # On a shared machine the wall time depends on the neighbours: show this process's CPU
        # time and the load beside it.
        note = f"CPU {time.process_time() - cpu:.1f} s, load {os.getloadavg()[0]:.1f}"
        rows.append(Row(what, seconds, queries, f"< {target_s:.0f} s", seconds < target_s, note))

    page("/resources/ HTML as admin", "admin", "/resources/", 0.3)
    page("dashboard HTML as admin", "admin", "/dashboard/", 0.15)
    page("dashboard API as admin", "admin", "/api/v1/dashboard/", 0.15)
    page("dashboard API as finance", "carol", "/api/v1/dashboard/", 0.15)
    page("dashboard API as a member", "alice", "/api/v1/dashboard/", 0.15)
    page(
        "chargeback by resource, one month (API)",
        "carol",
        f"/api/v1/chargeback/?period={this_month}&group_by=resource",
        0.5,
    )
    for group in ("project", "cost_center"):
        page(
            f"chargeback by {group.replace('_', ' ')}, last month",
            "carol",
            f"/api/v1/chargeback/?period={last_month}&group_by={group}",
            0.5,
        )
    page(
        "chargeback summary CSV by project, one month",
        "carol",
        f"/costs/export.csv?period={last_month}&group_by=project",
        2.0,
    )
    page(
        "chargeback summary CSV by resource, one month",
        "carol",
        f"/costs/export.csv?period={last_month}&group_by=resource",
        2.0,
    )
    page("/metrics scrape", "admin", "/metrics", 0.2)

    hour = hour_floor(now) - timedelta(hours=1)
    job("metering one hour", lambda: meter_hour(hour=hour), 10)
    job("idle-reclaim tick (organization-wide policy)", reclaim_evaluate, 10)
    month_start = (now.replace(day=1) - timedelta(days=1)).replace(day=1).date()
    job("closing a month's statements", lambda: statements_close(month=month_start), 30)
    carol = User.objects.get(username="carol")
    last = datetime.strptime(last_month, "%Y-%m").date()
    period = month_period(last)
    job(
        "raw hours of one month, background export",
        lambda: usage_export_write(
            user_id=carol.pk,
            export_id="bench",
            start=period.start.isoformat(),
            end=period.end.isoformat(),
            label=period.label,
            filters={},
        ),
        300,
    )
    sandbox = CloudAccount.objects.get(provider="sandbox")
    job(
        "reconciler pass over the sandbox account",
        lambda: reconcile_account(account_id=sandbox.pk),
        5,
    )

    if wanted("web process RSS"):
        rss = rss_after_serving(tmp, served)
        rows.append(
            Row(
                "web process RSS after serving every page above",
                0,
                None,
                "< 200 MiB",
                rss < 200 * MIB,
                f"{rss / MIB:.0f} MiB",
            )
        )
    if wanted("worker process RSS"):
        # What beat sends (metering the hour that ended, the lifecycle tick with idle reclaim,
        # closing last month, reconciling the accounts) and carol's raw export of last month.
        # After the jobs above, metering and closing find their work done: time this row alone
        # (`--only RSS`) for the worker to do all of it.
        rss, seconds = worker_rss_after_jobs(
            tmp,
            [
                ("billing.tasks.meter_last_hour", {}),
                ("lifecycle.tasks.tick", {}),
                ("billing.tasks.close_last_month", {}),
                ("provisioning.tasks.reconcile_accounts", {}),
                (
                    "billing.tasks.usage_export",
                    {
                        "user_id": carol.pk,
                        "export_id": "bench-worker",
                        "start": period.start.isoformat(),
                        "end": period.end.isoformat(),
                        "label": period.label,
                        "filters": {},
                    },
                ),
            ],
        )
        rows.append(
            Row(
                "worker process RSS after the jobs (largest pool process)",
                0,
                None,
                "< 200 MiB",
                rss < 200 * MIB,
                f"{rss / MIB:.0f} MiB; jobs done in {seconds:.0f} s",
            )
        )
    return rows


def print_table(rows: list[Row]) -> None:
    header = ("what", "time", "queries", "target", "result")
    table = [
        (
            row.what + (f" ({row.note})" if row.note else ""),
            f"{row.seconds * 1000:,.0f} ms" if row.seconds else "",
            "" if row.queries is None else str(row.queries),
            row.target,
            "ok" if row.ok else "MISSED",
        )
        for row in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    print()
    for line in [header, *table]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))
    missed = sum(1 for row in rows if not row.ok)
    print(f"\n{len(rows) - missed} of {len(rows)} under target")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--usage-rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per page (median)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="time only the rows whose name contains TEXT (repeatable), e.g. --only idle",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help=f"leave the database {DB_NAME} in place on exit, for --reuse",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the population a --keep run left instead of seeding a new one",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="canopy-bench-scale-") as tmp:
        try:
            if not args.reuse:
                recreate_database(DB_NAME)
        except psycopg2.OperationalError as exc:
            raise SystemExit(
                f"bench needs PostgreSQL on 127.0.0.1:5432, user postgres: {exc}"
            ) from exc
        try:
            setup_django(Path(tmp))
            print_table(run(args, Path(tmp)))
            return 0
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep:
                drop_database(DB_NAME)


if __name__ == "__main__":
    sys.exit(main())
