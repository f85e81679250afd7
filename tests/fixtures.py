"""Shared fixtures (a plugin of the root conftest.py): the demo, API clients, a real worker."""

import hashlib
import io
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import setup_databases, teardown_databases
from rest_framework.test import APIClient

from approvals.tests.factories import ApprovalPolicyFactory
from billing.tests.factories import RateCardFactory
from catalog import order_config
from catalog.models import CatalogItem
from catalog.orders import ADMISSION_FLAG
from catalog.tasks import admit_order
from core.cache import RedisCache
from core.models import Project
from portal.celery import app as celery_app
from provisioning.tests.factories import CloudAccountFactory, ServerItemFactory
from tests.ldap_server import directory  # noqa: F401  (fixture: a real slapd)
from tests.moto_server import moto, moto_url  # noqa: F401  (fixtures: moto's AWS API)

# No test asks for serialized_rollback: not serializing the database saves seconds.
NO_SERIALIZING = {"serialized_aliases": set()}


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker,
    django_db_keepdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    """pytest-django's test database, on PostgreSQL copied from a migrated template.

    Migrating costs tens of seconds on this machine, for every xdist worker. The first process
    to need a template for the current migrations builds it (migrates its test database the
    usual way, then copies it); every other, in this run or a later one, copies the template
    (`CREATE DATABASE … TEMPLATE`, a file copy). The template's name carries a digest of every
    installed app's migrations, so a changed migration builds a new one; an advisory lock makes
    concurrent processes build it once. `--reuse-db` and SQLite take pytest-django's way."""
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql" and not django_db_keepdb:
            created = _test_database_from_template(verbosity)
        else:
            created = setup_databases(
                verbosity=verbosity, interactive=False, keepdb=django_db_keepdb, **NO_SERIALIZING
            )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            try:
                teardown_databases(created, verbosity=verbosity)
            except DatabaseError as error:  # as pytest-django: a worker left connected
                request.node.warn(pytest.PytestWarning(f"test database not dropped: {error}"))


def _test_database_from_template(verbosity: int) -> list:
    template = f"canopy_template_{_migrations_digest()}"
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [template])
        try:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [template])
            if cursor.fetchone() is None:
                created = setup_databases(verbosity=verbosity, interactive=False, **NO_SERIALIZING)
                connection.close()  # a template must have no connections
                cursor.execute(f'CREATE DATABASE "{template}" TEMPLATE "{_database_name()}"')
                return created
            original = _database_name()
            test_name = connection.creation._get_test_db_name()
            cursor.execute(f'DROP DATABASE IF EXISTS "{test_name}"')
            cursor.execute(f'CREATE DATABASE "{test_name}" TEMPLATE "{template}"')
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [template])
    # As Django's create_test_db leaves it; teardown_databases drops it.
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = test_name
    connection.settings_dict["NAME"] = test_name
    return [(connection, original, True)]


def _database_name() -> str:
    return connection.settings_dict["NAME"]


def _migrations_digest() -> str:
    """A digest of every installed app's migration files (and which apps are installed)."""
    from django.apps import apps

    digest = hashlib.sha256()
    for app in apps.get_app_configs():
        digest.update(app.name.encode())
        for path in sorted(Path(app.path).glob("migrations/*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


class Snapshot:
    """The rows a builder writes (seed_demo, an app's test world), built once per test database
    and copied in for each test that asks.

    Building costs a second (the demo) or a few tenths (a world) of ORM and permission work;
    copying its rows back (PostgreSQL's COPY, inside the test's transaction, rolled back with
    it) costs a few milliseconds. The builder runs in a transaction (or savepoint) that is
    rolled back once its rows are copied out: the database stays as it was, and the sequences
    stay past the copied ids. The builder's answer ({name: model instance}) is read again after
    each copy, by primary key. `base` is what the migrations left (content types, permissions):
    a transactional test's flush empties it and post_migrate writes it again under new ids, so
    after such a test `repair` puts the original rows back, which the copied rows point at."""

    def __init__(self, blocker, build: Callable[[], dict | None]) -> None:
        self.blocker = blocker
        with blocker.unblock(), transaction.atomic(), connection.cursor() as cursor:
            tables = connection.introspection.django_table_names(
                only_existing=True, include_views=False
            )
            self.base = {t: _copy_out(cursor, f'SELECT * FROM "{t}"') for t in tables}
            self.base = {table: rows for table, rows in self.base.items() if rows}
            for n, table in enumerate(self.base):
                cursor.execute(f'CREATE TEMP TABLE "_before_{n}" AS SELECT * FROM "{table}"')
            built = build() or {}
            self.names = {name: (type(row), row.pk) for name, row in built.items()}
            self.rows = [self._seeded(cursor, n, t) for n, t in enumerate(self.base)]
            self.rows += [
                (table, False, _copy_out(cursor, f'SELECT * FROM "{table}"'))
                for table in tables
                if table not in self.base
            ]
            self.rows = [(table, replace, rows) for table, replace, rows in self.rows if rows]
            transaction.set_rollback(True)  # the built rows and the temporary tables go

    @staticmethod
    def _seeded(cursor, n: int, table: str) -> tuple[str, bool, str]:
        """A table that had rows: the seed's new rows, or all of them if it changed old ones."""
        before = f'SELECT b::text FROM "_before_{n}" b'
        cursor.execute(f'SELECT EXISTS ({before} EXCEPT SELECT t::text FROM "{table}" t)')
        if cursor.fetchone()[0]:
            return table, True, _copy_out(cursor, f'SELECT * FROM "{table}"')
        added = f'SELECT * FROM "{table}" t WHERE t::text NOT IN ({before})'
        return table, False, _copy_out(cursor, added)

    def restore(self) -> dict:
        """Copy the rows in; the builder's answer, read again."""
        with transaction.atomic(), connection.cursor() as cursor:
            for table, replace, rows in self.rows:
                if replace:
                    cursor.execute(f'DELETE FROM "{table}"')
                _copy_in(cursor, table, rows)
        # Building's saves told the caches; copied rows tell nobody, and their ids are the same
        # in every test, so what an earlier test cached under them must go (then the order
        # configuration's cache starts a generation, as after the builder's saves).
        _forget_cache()
        order_config.changed()
        return {name: model.objects.get(pk=pk) for name, (model, pk) in self.names.items()}

    def repair(self) -> None:
        with self.blocker.unblock(), transaction.atomic(), connection.cursor() as cursor:
            for table, rows in self.base.items():
                cursor.execute(f'DELETE FROM "{table}"')
                _copy_in(cursor, table, rows)
        ContentType.objects.clear_cache()


def _copy_out(cursor, query: str) -> str:
    buffer = io.StringIO()
    cursor.copy_expert(f"COPY ({query}) TO STDOUT", buffer)
    return buffer.getvalue()


def _copy_in(cursor, table: str, rows: str) -> None:
    cursor.copy_expert(f'COPY "{table}" FROM STDIN', io.StringIO(rows))


def _forget_cache() -> None:
    """Empty this run's cache (its keys carry the run's prefix; the Redis database is shared
    with the broker and with every other test run, so it must never be flushed: a FLUSHDB
    deletes their queued messages and queue bindings too)."""
    backend = caches["default"]  # `cache` is a proxy: isinstance() must ask the backend
    if isinstance(backend, RedisCache):
        client = backend._cache.get_client(write=True)
        keys = list(client.scan_iter(f"{backend.key_prefix}:*"))
        if keys:
            client.delete(*keys)
    else:
        backend.clear()  # a file or memory cache of this run's own


# Every snapshot taken in this process, by builder (the demo's is None's).
_snapshots: dict[Callable | None, Snapshot] = {}


@pytest.fixture(scope="session")
def demo_snapshot(django_db_setup, django_db_blocker) -> Snapshot | None:
    """The demo seeded once per test database on PostgreSQL; None on SQLite (seeded per test)."""
    if connection.vendor != "postgresql":
        return None
    if None not in _snapshots:
        _snapshots[None] = Snapshot(
            django_db_blocker, lambda: call_command("seed_demo", stdout=io.StringIO())
        )
    return _snapshots[None]


@pytest.fixture
def built(db, django_db_blocker) -> Callable[[Callable[[], dict]], dict]:
    """`built(builder)`: the rows `builder` writes and its answer ({name: model instance}),
    built once per test database and copied in for each later test (PostgreSQL; on SQLite the
    builder runs every time)."""

    def restore(builder: Callable[[], dict]) -> dict:
        if connection.vendor != "postgresql":
            return builder()
        if builder not in _snapshots:
            _snapshots[builder] = Snapshot(django_db_blocker, builder)
        return _snapshots[builder].restore()

    return restore


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    yield  # the test's fixtures are finalized: a transactional test's flush has run
    if _snapshots and nextitem is not None and _flushes(item):
        next(iter(_snapshots.values())).repair()  # the base is the same in every snapshot


def _flushes(item: pytest.Item) -> bool:
    """pytest-django's rule for a test that commits and is cleaned up by a flush."""
    marker = item.get_closest_marker("django_db")
    marked = marker is not None and (
        marker.kwargs.get("transaction") or (marker.args and marker.args[0])
    )
    names = getattr(item, "fixturenames", ())
    return bool(marked) or "transactional_db" in names or "live_server" in names


@pytest.fixture
def demo(db, demo_snapshot: Snapshot | None) -> dict:
    """The seed_demo organization: users by name plus the web-shop project and linux-vm item."""
    if demo_snapshot is None:
        call_command("seed_demo", stdout=io.StringIO())
    else:
        demo_snapshot.restore()
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


def orderable_linux_vm(project: Project) -> None:
    """What `order_via_api` needs of a world that has no catalog of its own (the tests of the
    apps below catalog, such as identity's journeys that end in an order): the linux-vm item, a
    sandbox account serving `project` at a list price, and its manager's approval."""
    organization = project.organization
    ServerItemFactory(slug="linux-vm", name="Linux VM")
    CloudAccountFactory(name="sandbox", organization=organization).projects.set([project])
    RateCardFactory(organization=organization, rates={"server": "0.02"})
    ApprovalPolicyFactory(organization=organization)


def order_via_api(client: APIClient, demo: dict, *, admit: bool = True, **parameters):
    """alice's usual order: a small linux-vm named web-1 in web-shop, with overrides.

    The API answers with the order `submitted`; with `admit` the test then runs its admission
    task here, as a worker would (a worker delivering it again later changes nothing)."""
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
    queues = settings.CANOPY_QUEUES
    with celery_app.connection_for_write() as conn:
        for queue in queues:  # messages left by earlier tests point at flushed rows
            conn.default_channel.queue_declare(queue=queue, durable=True)
            conn.default_channel.queue_purge(queue)
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
    # Ready when it consumes: a test's deadlines then count its own work, not the worker's
    # start-up (seconds of imports on a loaded machine).
    log_path = Path(log.name)
    wait_until(
        lambda: worker.poll() is not None or " ready." in log_path.read_text(),
        timeout=90,
        what="the worker to be ready",
    )
    yield worker
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `pytest -n … --dist loadgroup` (make test), the tests of a module that share a
    module-scoped fixture (a private PostgreSQL and Redis stack, a Prometheus) run on one xdist
    worker, so it starts once.

    xdist's scheduler knows a test by its node id, and finds its group as a `@group` suffix.
    Two things it cannot do on its own here: schemathesis gives every operation's test the
    function's id (each gets its own, from the item's name, which names the operation), and
    xdist 3.8 writes the suffix where pytest 9 no longer reads node ids (so it is written here,
    before xdist's hook, which then changes nothing)."""
    grouping = getattr(config.option, "loadgroup", False)  # set in xdist's workers
    shared = Counter(item.nodeid for item in items)
    for item in items:
        nodeid = item.nodeid
        if shared[nodeid] > 1:
            nodeid = f"{nodeid.rsplit('::', 1)[0]}::{item.name}"
        definitions = getattr(item, "_fixtureinfo", None)
        definitions = definitions.name2fixturedefs.values() if definitions else ()
        if grouping and any(d[-1].scope == "module" for d in definitions):
            nodeid = f"{nodeid}@{item.module.__name__}"
        if nodeid != item.nodeid:
            item._id = coerce_node_id(nodeid)
