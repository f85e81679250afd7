"""Settings for the test suite: the real services when this machine has them, embedded otherwise.

PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are used when they answer. With
CANOPY_REQUIRE_SERVICES=1 (CI) a missing one is an error, never a silent fallback.
"""

import os
import socket
import tempfile
import uuid

from django.core.exceptions import ImproperlyConfigured


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


_required = os.environ.get("CANOPY_REQUIRE_SERVICES") == "1"
if "DATABASE_URL" not in os.environ and _answers("127.0.0.1", 5432):
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/canopy"
if "CELERY_BROKER_URL" not in os.environ and _answers("127.0.0.1", 6379):
    os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/15"
if _required and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    raise ImproperlyConfigured("CANOPY_REQUIRE_SERVICES=1 but PostgreSQL is not reachable")
if _required and not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
    raise ImproperlyConfigured("CANOPY_REQUIRE_SERVICES=1 but Redis is not reachable")
# Inherited by worker processes the tests start, so they share the queues and the var dir.
# Each pytest-xdist worker inherits the controller's environment too, but must have queues, a
# cache prefix and a var dir of its own: CANOPY_TEST_OWNER says which process tree set them.
_owner = os.environ.get("PYTEST_XDIST_WORKER", "main")
if os.environ.get("CANOPY_TEST_OWNER") != _owner:
    os.environ["CANOPY_TEST_OWNER"] = _owner
    os.environ["CANOPY_QUEUE_PREFIX"] = f"test-{uuid.uuid4().hex[:8]}-"
    os.environ["CANOPY_VAR_DIR"] = tempfile.mkdtemp(prefix="canopy-test-")

from portal.settings import *

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
CANOPY_DEMO_WORKLOAD = False  # the `demo` fixture's organization starts with no orders
# Kept in memory for the test to read; a worker started by a browser test prints its emails
# instead (the console backend, as `make run`), so the test follows the printed links.
EMAIL_BACKEND = os.environ.get(
    "CANOPY_TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend"
)
STATIC_ROOT = VAR_DIR / "static"  # whitenoise wants it to exist
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a worker process started by a test sees the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
elif "CANOPY_TEST_DATABASE" in os.environ:
    # Lets several checkouts run their suites against one PostgreSQL at the same time.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["CANOPY_TEST_DATABASE"]}
# The suite's clients make thousands of API requests a minute as the same few users; the
# throttling tests set low rates of their own.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "100000/minute", "user": "100000/minute"}
