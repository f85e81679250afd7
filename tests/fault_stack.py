"""A whole Canopy on private services that a test may stop and start: a PostgreSQL cluster
(initdb/pg_ctl), a Redis broker and a Redis cache (redis-server), each on a free port in a temp
directory, with gunicorn and a Celery worker running against them. The machine's own services
are never touched.

PostgreSQL's initdb refuses to run as root: as root, the cluster belongs to the `postgres` user
(`runuser`). A missing server binary fails the test with what to install (`make test` installs
them: see the Makefile's `fault-services`).
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
# The settings' queue names without a prefix: the broker is private.
QUEUES = "canopy,provisioning,billing"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def poll(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    explain: Callable[[], str] = lambda: "",
) -> float:
    """Poll until `condition()` is true, an exception counting as not yet (a service may be
    down); returns the seconds it took. After `timeout` the test fails, with the last error
    and what `explain()` tells (a log)."""
    start = time.monotonic()
    error = None
    while True:
        try:
            if condition():
                return time.monotonic() - start
        except Exception as raised:  # the service being probed is down or restarting
            error = raised
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout}s waiting for {what} ({error!r})\n{explain()}")
        time.sleep(0.1)


def _binary(pattern: str, package: str) -> str:
    found = sorted(glob.glob(pattern)) or ([shutil.which(pattern)] if shutil.which(pattern) else [])
    if not found:
        pytest.fail(f"{pattern} not found: install {package} (make fault-services does)")
    return found[-1]  # the newest PostgreSQL version


class PrivatePostgres:
    def __init__(self, directory: Path) -> None:
        self.bin = Path(_binary("/usr/lib/postgresql/*/bin/initdb", "postgresql")).parent
        self.port = free_port()
        self.data = directory / "pgdata"
        self.log = directory / "postgres.log"
        self.as_root = os.geteuid() == 0
        directory.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(directory, "postgres")
        self._run(self.bin / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-N")
        self.start()
        conn = self.connect("postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE canopy")
        conn.close()

    def _run(self, *args: Any) -> None:
        command = [str(arg) for arg in args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def _pg_ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c unix_socket_directories={self.data.parent}"
        )
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", *args)

    def start(self) -> None:
        self._pg_ctl("start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def restart(self) -> float:
        """Restart the server (fast shutdown: connections are cut); returns how long it took."""
        start = time.monotonic()
        self._pg_ctl("-m", "fast", "restart")
        return time.monotonic() - start

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/canopy"

    def connect(self, database: str = "canopy"):
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, connect_timeout=3
        )

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run `sql` on a connection of its own (so it works across restarts); commits."""
        conn = self.connect()
        try:
            with conn, conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()


class PrivateRedis:
    def __init__(self, directory: Path, name: str) -> None:
        self.binary = _binary("redis-server", "redis-server")
        self.port = free_port()
        self.directory = directory / name
        self.directory.mkdir(parents=True)
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        # Append-only with fsync on every write, as a broker should be: messages survive.
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        poll(self._answers, timeout=10, what=f"redis-server on {self.port}")

    def _answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Canopy:
    """gunicorn and a Celery worker on the private services, the demo organization seeded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: dict[str, subprocess.Popen] = {}
        self.postgres = PrivatePostgres(directory / "postgres")
        try:
            self._start_canopy(directory)
        except BaseException:
            self.close()
            raise

    def _start_canopy(self, directory: Path) -> None:
        self.broker = self.cache = None
        self.broker = PrivateRedis(directory, "broker")
        self.cache = PrivateRedis(directory, "cache")
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("CANOPY_", "DATABASE_", "CELERY_", "CACHE_", "DJANGO_"))
        } | {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": self.postgres.url,
            "CELERY_BROKER_URL": self.broker.url,
            "CACHE_URL": self.cache.url,
            "CANOPY_VAR_DIR": str(directory / "var"),
            "CANOPY_DEMO_WORKLOAD": "false",
            "CANOPY_STEP_RETRY_BASE": "0.2",
            "PYTHONUNBUFFERED": "1",
        }
        self._manage("migrate", "--noinput")
        self._manage("seed_demo")
        self.web = self._start("web", "-m", "gunicorn", "portal.wsgi:application",
                               "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
                               "--threads", "4")  # fmt: skip
        self.worker = self.start_worker()
        self.tokens: dict[str, str] = {}
        poll(self.healthy, timeout=90, what="a healthy Canopy (database, broker, cache, workers)")

    def _manage(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True
        )
        if done.returncode:
            pytest.fail(f"manage.py {' '.join(args)} failed:\n{done.stderr.decode()[-3000:]}")

    def _start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.directory / f"{name}.log", "a")  # noqa: SIM115  (closed with the process)
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def start_worker(self) -> subprocess.Popen:
        self.worker = self._start(
            "worker", "-m", "celery", "-A", "portal", "worker", "-Q", QUEUES,
            "--concurrency", "2", "--without-gossip", "--without-mingle", "-l", "info",
        )  # fmt: skip
        return self.worker

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool processes: nothing acknowledges or cleans up."""
        children = subprocess.run(
            ["pgrep", "-P", str(self.worker.pid)], capture_output=True, text=True
        ).stdout.split()
        for pid in [self.worker.pid, *map(int, children)]:
            os.kill(int(pid), signal.SIGKILL)
        self.worker.wait(timeout=10)

    def health(self) -> requests.Response:
        return requests.get(f"{self.base_url}/health/", timeout=10)

    def healthy(self) -> bool:
        return self.health().status_code == 200

    def logs(self, chars: int = 3000) -> str:
        """The end of the worker's and the web server's logs."""
        tails = []
        for name in ("worker", "web"):
            path = self.directory / f"{name}.log"
            tails.append(f"--- {name}.log\n{path.read_text()[-chars:] if path.exists() else ''}")
        return "\n".join(tails)

    def wait(self, condition: Callable[[], Any], *, timeout: float, what: str) -> float:
        """`poll`, explaining a timeout with the logs."""
        return poll(condition, timeout=timeout, what=what, explain=self.logs)

    # --- the API, as its users call it ---------------------------------------------------------
    def api(self, method: str, path: str, user: str, **kwargs: Any) -> requests.Response:
        if user not in self.tokens:
            answer = requests.post(
                f"{self.base_url}/api/v1/auth/token/",
                data={"username": user, "password": "canopy"},
                timeout=10,
            )
            answer.raise_for_status()
            self.tokens[user] = answer.json()["token"]
        headers = {"Authorization": f"Token {self.tokens[user]}"}
        return requests.request(
            method, f"{self.base_url}/api/v1/{path}", headers=headers, timeout=30, **kwargs
        )

    def order(self, user: str, project_slug: str, name: str) -> requests.Response:
        ((project_id,),) = self.postgres.query(
            "SELECT id FROM core_project WHERE slug = %s", (project_slug,)
        )
        return self.api(
            "post",
            "orders/",
            user,
            json={
                "item": "linux-vm",
                "project": project_id,
                "parameters": {"name": name, "size": "small"},
            },
        )

    def order_status(self, order_id: int) -> str:
        ((status,),) = self.postgres.query(
            "SELECT status FROM catalog_order WHERE id = %s", (order_id,)
        )
        return status

    def sandbox_latency(self, milliseconds: int) -> None:
        self.postgres.query(
            "UPDATE provisioning_cloudaccount SET options = %s WHERE name = 'sandbox'",
            (json.dumps({"latency_ms": milliseconds}),),
        )

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        for redis in (self.broker, self.cache):
            if redis is not None:
                redis.stop()
        self.postgres.stop()
