"""Worker heartbeats: every Celery worker stamps the queues it consumes in the shared cache every
few seconds, and /health/ reads their age. Celery's broadcast `ping` would do on Redis, but the
embedded filesystem broker has no broadcast, so this works the same on both.

Imported by portal.celery before Django is set up: no models here.
"""

import logging
import time

from celery import bootsteps
from django.core.cache import cache

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10
# A queue whose last stamp is older than this has no live worker (three missed beats).
HEARTBEAT_MAX_AGE = 3 * HEARTBEAT_SECONDS


def heartbeat_key(queue: str) -> str:
    return f"portal:worker-heartbeat:{queue}"


def heartbeat_record(*, queues: list[str], hostname: str, at: float | None = None) -> None:
    """Stamp `queues` as served by `hostname` now (or at `at`, a Unix time)."""
    stamp = {"at": time.time() if at is None else at, "hostname": hostname}
    cache.set_many(
        {heartbeat_key(queue): stamp for queue in queues}, timeout=HEARTBEAT_MAX_AGE * 10
    )


def heartbeat_read(*, queues: list[str]) -> dict[str, dict | None]:
    """The last stamp of each queue ({"at", "hostname"}), None for a queue never stamped."""
    stamps = cache.get_many([heartbeat_key(queue) for queue in queues])
    return {queue: stamps.get(heartbeat_key(queue)) for queue in queues}


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Runs in the worker's main process, on its timer (the event loop's, or a thread's)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker) -> None:
        self.stamp(worker)
        self.tref = worker.timer.call_repeatedly(HEARTBEAT_SECONDS, self.stamp, (worker,))

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()

    def stamp(self, worker) -> None:
        queues = sorted(worker.app.amqp.queues.consume_from)
        try:
            heartbeat_record(queues=queues, hostname=worker.hostname)
        except Exception:  # an unreachable cache must not stop the worker; /health/ will say so
            logger.warning("worker heartbeat not recorded", exc_info=True)
