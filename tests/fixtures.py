"""Shared fixtures (a plugin of the root conftest.py): the demo, API clients, a real worker."""

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from portal.celery import app as celery_app
from tests.ldap_server import directory  # noqa: F401  (fixture: a real slapd)
from tests.moto_server import moto, moto_url  # noqa: F401  (fixtures: moto's AWS API)


@pytest.fixture
def demo(db) -> dict:
    """The seed_demo organization: users by name plus the web-shop project and linux-vm item."""
    from catalog.models import CatalogItem
    from core.models import Project

    call_command("seed_demo", stdout=io.StringIO())
    users = {u.username: u for u in User.objects.all()}
    return {
        **users,
        "web_shop": Project.objects.get(slug="web-shop"),
        "data_lab": Project.objects.get(slug="data-lab"),
        "linux_vm": CatalogItem.objects.get(slug="linux-vm"),
    }


@pytest.fixture
def api_as() -> Callable[[User], APIClient]:
    def client_for(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


def order_via_api(client: APIClient, demo: dict, *, admit: bool = True, **parameters):
    """alice's usual order: a small linux-vm named web-1 in web-shop, with overrides.

    The API answers with the order `submitted`; with `admit` the test then runs its admission
    task here, as a worker would (a worker delivering it again later changes nothing)."""
    from catalog.tasks import admit_order

    answer = client.post(
        "/api/v1/orders/",
        {
            "item": "linux-vm",
            "project": demo["web_shop"].pk,
            "parameters": {"name": "web-1", "size": "small", **parameters},
        },
        format="json",
    )
    if admit and answer.status_code == 201:
        admit_order(answer.data["id"])
    return answer


def wait_until(condition: Callable[[], bool], *, timeout: float = 60, what: str = "") -> None:
    """Poll a condition until it holds; fail with `what` when the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _database_url_for_subprocess() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A real `celery worker` on the real broker, sharing the test database."""
    yield from worker_process(tmp_path)


def worker_process(tmp_path: Path, **extra_env: str) -> Iterator[subprocess.Popen]:
    """Start a worker (its environment plus `extra_env`) after purging the test queues; its
    log is `tmp_path / "worker.log"`, printed at the end (pytest shows it when a test failed)."""
    queues = [settings.CANOPY_DEFAULT_QUEUE, settings.CANOPY_PROVIDER_QUEUE]
    with celery_app.connection_for_write() as conn:
        for queue in queues:  # messages left by earlier tests point at flushed rows
            conn.default_channel.queue_declare(queue=queue, durable=True)
            conn.default_channel.queue_purge(queue)
    from django.core.cache import cache

    from catalog.orders import ADMISSION_FLAG

    cache.delete(ADMISSION_FLAG)  # its admission message was just purged
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_subprocess(),
        "DJANGO_SETTINGS_MODULE": "portal.test_settings",
        **extra_env,
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        yield from _run_worker(queues, env, log)
    print(log_path.read_text()[-4000:])  # shown by pytest when the test failed


def _run_worker(queues: list[str], env: dict, log) -> Iterator[subprocess.Popen]:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "-Q",
            ",".join(queues),
            "--concurrency",
            "2",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
