"""Load benchmark: Canopy's POST /api/v1/orders/ against a bare token-authenticated DRF insert,
the request alone (the target) and with a Celery worker admitting the orders alongside.

Run from the repository root: `.venv/bin/python bench/run.py` (what `make bench` does).
Needs PostgreSQL on 127.0.0.1:5432 with user postgres and trust authentication, and Redis on
127.0.0.1:6379. See bench/README.md.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
import requests

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
DB_NAME = "canopy_bench"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"

GUNICORN_WORKERS = 4
WORKER_CONCURRENCY = 2  # celery's default on this 2-CPU machine: one process per CPU
BROKER_URL = "redis://127.0.0.1:6379/14"
THREADS = 16
REQUESTS = 600
ROUNDS = 6  # orders and bare alternate, so load from elsewhere on the machine hits both alike
WARMUP = 50
REQUEST_TIMEOUT = 10.0  # seconds, per request
PHASE_TIMEOUT = 300.0  # seconds, hard limit for one measured phase
READY_TIMEOUT = 60.0  # seconds for gunicorn to answer its first request
DRAIN_TIMEOUT = 300.0  # seconds for the worker to admit every submitted order
TARGET_RATIO = 0.5

ORDERS_PATH = "/api/v1/orders/"
BARE_PATH = "/bench/bare/"


@dataclass
class PhaseResult:
    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        ok = self.requests - self.errors
        return ok / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def combined(cls, name: str, rounds: list[PhaseResult]) -> PhaseResult:
        return cls(
            name=name,
            requests=sum(r.requests for r in rounds),
            errors=sum(r.errors for r in rounds),
            seconds=sum(r.seconds for r in rounds),
            latencies_ms=[ms for r in rounds for ms in r.latencies_ms],
            error_samples=[sample for r in rounds for sample in r.error_samples][:3],
        )

    def percentile(self, p: float) -> float:
        # Nearest-rank percentile: no interpolation, always a latency that was observed.
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- database -------------------------------------------------------------------------------


def _admin_execute(sql: str) -> None:
    conn = psycopg2.connect(**PG_ADMIN)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def recreate_database(name: str = DB_NAME) -> None:
    drop_database(name)
    _admin_execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str = DB_NAME) -> None:
    # FORCE ends connections a crashed earlier run or a lingering worker may still hold.
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- processes ------------------------------------------------------------------------------


def bench_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=DATABASE_URL,
        # Production-like: DEBUG off (no query log kept in memory, no debug pages).
        DEBUG="false",
        SECRET_KEY="bench-only-not-a-secret",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        # Redis, as deployed; queues of their own so the run never meets anybody else's messages.
        CELERY_BROKER_URL=BROKER_URL,
        CANOPY_QUEUE_PREFIX=f"bench-{uuid.uuid4().hex[:8]}-",
        CANOPY_VAR_DIR=str(tmp / "var"),
        # Mail goes to memory and logs only warnings, so neither console I/O skews the numbers.
        EMAIL_URL="memorymail://",
        LOG_LEVEL="WARNING",
        # No demo workloads (leases running out, autoscaling waves): nothing runs but the bench.
        CANOPY_DEMO_WORKLOAD="false",
        PYTHONUNBUFFERED="1",
    )
    env.setdefault("CANOPY_DEMO_PASSWORD", "canopy")
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, check=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    try:
        return subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "portal.wsgi:application",  # DJANGO_SETTINGS_MODULE=bench.settings comes from env
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(GUNICORN_WORKERS),
                "--worker-class",
                "sync",
                "--chdir",
                str(REPO),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it can be stopped as a whole
        )
    finally:
        log.close()  # the child holds its own copy of the descriptor


def django_setup(env: dict[str, str]) -> None:
    """Django in this process, with the same settings and database as gunicorn and the worker."""
    os.environ.update(env)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def start_worker(
    env: dict[str, str], log_path: Path, log_level: str = "warning"
) -> subprocess.Popen[bytes]:
    """A celery worker on both queues, as Procfile.dev and docker-compose.yml start it."""
    from django.conf import settings

    queues = ",".join(settings.CANOPY_QUEUES)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queues,
             "--concurrency", str(WORKER_CONCURRENCY), "--without-gossip", "--without-mingle",
             "-l", log_level],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn or the worker: both stop their children on SIGTERM."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(base: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_tail(log_path)}")
        try:
            # Any answer below 500 (401 without a token) means Django is up and routing.
            if requests.get(base + "/api/v1/projects/", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"gunicorn did not answer within {READY_TIMEOUT:.0f}s:\n{log_tail(log_path)}"
    )


# --- API ------------------------------------------------------------------------------------


def get_token(base: str, username: str, password: str) -> str:
    resp = requests.post(
        base + "/api/v1/auth/token/",
        json={"username": username, "password": password},
        timeout=REQUEST_TIMEOUT,
    )
    resp.raise_for_status()
    return str(resp.json()["token"])


def get_project_id(base: str, token: str, name: str = "web-shop") -> int:
    resp = requests.get(
        base + "/api/v1/projects/",
        headers={"Authorization": f"Token {token}"},
        timeout=REQUEST_TIMEOUT,
    )
    resp.raise_for_status()
    results = resp.json()["results"]
    for project in results:
        if project["name"] == name:
            return int(project["id"])
    raise RuntimeError(f"alice sees no project named {name!r}: {results}")


def lift_quota(base: str, admin_token: str, project_id: int) -> None:
    """The demo quota (20 servers) would refuse most of the measured orders; the quota row stays,
    so every order still takes its lock and writes its ledger entry."""
    resp = requests.patch(
        f"{base}/api/v1/projects/{project_id}/quota/",
        json={"max_servers": 10**6, "max_vcpus": 10**6},
        headers={"Authorization": f"Token {admin_token}"},
        timeout=REQUEST_TIMEOUT,
    )
    resp.raise_for_status()


def order_body(project_id: int, tag: str, i: int) -> dict[str, Any]:
    # Unique names: a portal may reasonably refuse two resources of the same name.
    return {
        "item": "linux-vm",
        "project": project_id,
        "parameters": {"name": f"bench-{tag}-{i}", "size": "small"},
    }


def drive(name: str, url: str, token: str, bodies: list[dict[str, Any]]) -> PhaseResult:
    """POST every body with THREADS concurrent clients; each thread keeps one Session."""
    local = threading.local()
    sessions: list[requests.Session] = []
    lock = threading.Lock()

    def session() -> requests.Session:
        sess: requests.Session | None = getattr(local, "session", None)
        if sess is None:
            sess = requests.Session()
            sess.headers["Authorization"] = f"Token {token}"
            local.session = sess
            with lock:
                sessions.append(sess)
        return sess

    def one(body: dict[str, Any]) -> tuple[bool, float, str]:
        started = time.perf_counter()
        try:
            resp = session().post(url, json=body, timeout=REQUEST_TIMEOUT)
            text = " ".join(resp.text.split())[:300]  # one line, even for an HTML error page
            ok, detail = resp.status_code == 201, f"HTTP {resp.status_code}: {text}"
        except requests.RequestException as exc:
            ok, detail = False, repr(exc)
        return ok, (time.perf_counter() - started) * 1000, detail

    result = PhaseResult(name=name, requests=len(bodies))
    pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix=f"bench-{name}")
    started = time.perf_counter()
    futures = [pool.submit(one, body) for body in bodies]
    done, not_done = wait(futures, timeout=PHASE_TIMEOUT)
    result.seconds = time.perf_counter() - started
    # Requests still queued are dropped; those in flight end within REQUEST_TIMEOUT.
    pool.shutdown(wait=False, cancel_futures=True)

    for fut in done:
        ok, ms, detail = fut.result()
        if ok:
            result.latencies_ms.append(ms)
        else:
            result.errors += 1
            if len(result.error_samples) < 3:
                result.error_samples.append(detail)
    if not_done:
        result.errors += len(not_done)
        result.error_samples.append(f"{len(not_done)} requests unfinished after {PHASE_TIMEOUT}s")
    for sess in sessions:
        sess.close()
    return result


# --- admission by the worker ----------------------------------------------------------------


@dataclass
class Admission:
    """How the worker admitted the orders of one phase."""

    orders: int = 0
    backlog: int = 0  # still `submitted` when the last response arrived
    seconds: float = 0.0  # first admission → last admission
    drain_seconds: float = 0.0  # last response → last admission

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def combined(cls, rounds: list[Admission]) -> Admission:
        """The rounds' orders over their admission time; the largest backlog and drain."""
        return cls(
            orders=sum(a.orders for a in rounds),
            backlog=max(a.backlog for a in rounds),
            seconds=sum(a.seconds for a in rounds),
            drain_seconds=max(a.drain_seconds for a in rounds),
        )


def _bench_query(sql: str, *params: Any) -> tuple[Any, ...]:
    conn = psycopg2.connect(**{**PG_ADMIN, "dbname": DB_NAME})
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()
    finally:
        conn.close()


def submitted_count() -> int:
    return int(_bench_query("SELECT count(*) FROM catalog_order WHERE status = 'submitted'")[0])


def wait_admitted(phase: PhaseResult, ended: float) -> Admission:
    """Wait until the worker has admitted every order (none left `submitted`) and measure it
    from the audit trail: each admission writes the order's submitted → pending_approval event.
    `ended` is when the phase's last response arrived (time.time())."""
    backlog = submitted_count()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while submitted_count():
        if time.monotonic() > deadline:
            raise RuntimeError(f"orders still submitted {DRAIN_TIMEOUT:.0f}s after {phase.name}")
        time.sleep(0.2)
    count, first, last = _bench_query(
        "SELECT count(*), extract(epoch FROM min(created_at)), extract(epoch FROM max(created_at))"
        " FROM portal_auditevent"
        " WHERE action = 'order.status' AND from_state = 'submitted' AND created_at >= %s",
        datetime.fromtimestamp(ended - phase.seconds, UTC),
    )
    if not count:
        return Admission(backlog=backlog)
    return Admission(
        orders=int(count),
        backlog=backlog,
        seconds=float(last) - float(first),
        drain_seconds=max(0.0, float(last) - ended),
    )


# --- in-process query count -----------------------------------------------------------------


def count_queries(env: dict[str, str], token: str, project_id: int) -> tuple[int, int]:
    """SQL queries of one order request and of one bare request, steady state (after a warm-up)."""
    django_setup(env)
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")

    def measure(path: str, make_body: Callable[[int], dict[str, Any]]) -> int:
        # The first request pays one-off costs (connection setup, ContentType cache): not counted.
        for i in range(2):
            with CaptureQueriesContext(connection) as ctx:
                resp = client.post(path, data=make_body(i), content_type="application/json")
            if resp.status_code != 201:
                raise RuntimeError(
                    f"in-process POST {path}: HTTP {resp.status_code} {resp.content!r}"
                )
        return len(ctx.captured_queries)

    try:
        order_queries = measure(ORDERS_PATH, lambda i: order_body(project_id, "queries", i))
        bare_queries = measure(BARE_PATH, lambda i: {})
    finally:
        connections.close_all()  # the database is dropped next
    return order_queries, bare_queries


# --- report ---------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Orders against the bare insert over alternating rounds, under one condition."""

    label: str
    orders: PhaseResult
    bare: PhaseResult
    round_ratios: list[float]

    @property
    def ratio(self) -> float:
        return self.orders.rps / self.bare.rps if self.bare.rps > 0 else 0.0


def alternate(
    label: str,
    urls: tuple[str, str],
    token: str,
    project_id: int,
    after_orders: Callable[[PhaseResult], None] = lambda phase: None,
) -> Comparison:
    """ROUNDS of orders then as many bare inserts, so load from elsewhere on the machine hits
    both alike; `after_orders` runs after each orders round, before the bare one."""
    orders_url, bare_url = urls
    per_round = REQUESTS // ROUNDS
    order_rounds, bare_rounds = [], []
    for index in range(ROUNDS):
        bodies = [order_body(project_id, f"{label}{index}", i) for i in range(per_round)]
        order_rounds.append(drive(f"orders {label}", orders_url, token, bodies))
        after_orders(order_rounds[-1])
        bare_rounds.append(drive(f"bare {label}", bare_url, token, [{}] * per_round))
    return Comparison(
        label=label,
        orders=PhaseResult.combined(f"POST {ORDERS_PATH} ({label})", order_rounds),
        bare=PhaseResult.combined(f"POST {BARE_PATH} ({label})", bare_rounds),
        round_ratios=[
            o.rps / b.rps if b.rps > 0 else 0.0
            for o, b in zip(order_rounds, bare_rounds, strict=True)
        ],
    )


def print_report(
    alone: Comparison,
    alongside: Comparison,
    admissions: list[tuple[str, Admission]],
    order_queries: int,
    bare_queries: int,
) -> None:
    results = [alone.orders, alone.bare, alongside.orders, alongside.bare]
    header = ("endpoint", "requests", "errors", "req/s", "p50 ms", "p95 ms")
    rows = [
        (
            r.name,
            str(r.requests),
            str(r.errors),
            f"{r.rps:.1f}",
            f"{r.percentile(50):.1f}",
            f"{r.percentile(95):.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    print()
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))

    verdict = "PASS" if alone.ratio >= TARGET_RATIO else "FAIL"
    print()
    print(
        f"ratio canopy/bare, the request alone: {alone.ratio:.2f}x "
        f"(target >= {TARGET_RATIO}x) {verdict}"
    )
    print(f"  per round: {' '.join(f'{r:.2f}x' for r in alone.round_ratios)}")
    print("  (no worker running: the endpoint's own cost; deployed, admission runs on the")
    print("  worker's own capacity)")
    print(
        f"ratio canopy/bare, a worker admitting alongside on the same CPUs: {alongside.ratio:.2f}x"
    )
    print(f"  per round: {' '.join(f'{r:.2f}x' for r in alongside.round_ratios)}")
    print(
        f"SQL queries per order request: {order_queries}, token lookup and BEGIN/COMMIT included "
        f"(bare insert: {bare_queries})"
    )
    print(f"admission by the celery worker (concurrency {WORKER_CONCURRENCY}, this machine):")
    for name, admission in admissions:
        print(
            f"  {name}: {admission.orders} orders at {admission.rate:.1f} orders/s; "
            f"{admission.backlog} still submitted after the last response, all admitted "
            f"{admission.drain_seconds:.1f}s later"
        )
    for r in results:
        for sample in r.error_samples:
            print(f"error {r.name}: {sample}")


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    # SIGTERM (e.g. from a CI timeout) unwinds through the finally blocks like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    with tempfile.TemporaryDirectory(prefix="canopy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = bench_env(tmp)
        log_path, worker_log = tmp / "gunicorn.log", tmp / "worker.log"
        proc: subprocess.Popen[bytes] | None = None
        worker: subprocess.Popen[bytes] | None = None
        try:
            print(f"creating database {DB_NAME} on 127.0.0.1:5432", flush=True)
            try:
                recreate_database()
            except psycopg2.OperationalError as exc:
                raise SystemExit(
                    f"bench needs PostgreSQL on 127.0.0.1:5432, user postgres, trust auth: {exc}"
                ) from exc
            manage(env, "migrate", "--noinput", "-v", "0")
            manage(env, "seed_demo")
            django_setup(env)

            port = free_port()
            base = f"http://127.0.0.1:{port}"
            print(
                f"starting gunicorn ({GUNICORN_WORKERS} sync workers) on {base} and a celery "
                f"worker (concurrency {WORKER_CONCURRENCY})",
                flush=True,
            )
            proc = start_gunicorn(env, port, log_path)
            worker = start_worker(env, worker_log)
            wait_ready(base, proc, log_path)

            token = get_token(base, "alice", env["CANOPY_DEMO_PASSWORD"])
            project_id = get_project_id(base, token)
            lift_quota(base, get_token(base, "admin", env["CANOPY_DEMO_PASSWORD"]), project_id)

            orders_url, bare_url = base + ORDERS_PATH, base + BARE_PATH
            print(f"warm-up: {WARMUP} requests per endpoint", flush=True)
            warm_orders = [order_body(project_id, "warm", i) for i in range(WARMUP)]
            warm = drive("warm-up orders", orders_url, token, warm_orders)
            wait_admitted(warm, time.time())  # the worker is up and warm
            warm_bare = drive("warm-up bare", bare_url, token, [{} for _ in range(WARMUP)])
            for w in (warm, warm_bare):
                if w.errors:
                    raise RuntimeError(f"{w.name}: {w.errors} errors, e.g. {w.error_samples}")

            print(
                f"measuring: {REQUESTS} requests per endpoint in {ROUNDS} alternating rounds, "
                f"{THREADS} threads, with a worker admitting alongside, then without",
                flush=True,
            )
            urls = (orders_url, bare_url)
            admission_rounds: list[Admission] = []

            def drain(phase: PhaseResult) -> None:
                # The worker finishes the backlog first, so it takes no CPU from the bare round.
                admission_rounds.append(wait_admitted(phase, time.time()))

            alongside = alternate("alongside", urls, token, project_id, after_orders=drain)
            # The same with the worker stopped: what the request itself costs; then the worker
            # alone drains those orders.
            stop_group(worker)
            alone = alternate("alone", urls, token, project_id)
            ended = time.time()
            worker = start_worker(env, worker_log)
            drained = wait_admitted(alone.orders, ended)

            order_queries, bare_queries = count_queries(env, token, project_id)
            print_report(
                alone,
                alongside,
                [
                    ("alongside the requests", Admission.combined(admission_rounds)),
                    ("alone, afterwards", drained),
                ],
                order_queries,
                bare_queries,
            )
            phases = [alone.orders, alone.bare, alongside.orders, alongside.bare]
            return 1 if any(r.errors for r in phases) else 0
        except Exception:
            if proc is not None:
                print(f"--- gunicorn log (tail) ---\n{log_tail(log_path)}", file=sys.stderr)
            if worker is not None:
                print(f"--- worker log (tail) ---\n{log_tail(worker_log)}", file=sys.stderr)
            raise
        finally:
            for process in (proc, worker):
                if process is not None:
                    stop_group(process)
            try:
                drop_database()
            except psycopg2.Error as exc:
                print(f"could not drop database {DB_NAME}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
