"""Sweeps that every Celery worker runs from its main process, on its own timer rather than on
messages from beat: they must work when the broker has just come back, and beat's messages need
the broker too.

- every RELAY_SECONDS: publish what the outbox holds (`core.outbox.outbox_relay`);
- every STEP_SWEEP_SECONDS: re-queue the steps whose worker died (`steps_resume`), and start
  the approved orders whose deploy message was lost (`catalog.orders.orders_deploy_overdue`).

Both lock what they take (`SKIP LOCKED`), so any number of workers may run them. A sweep that
fails (the database is down) is logged and tried again at the next tick.

Imported by portal.celery before Django is set up: the services are imported when the worker
starts the step, once the apps are loaded.
"""

import logging
import time

from celery import bootsteps
from django.db import close_old_connections

from core.db import UNAVAILABLE_ERRORS

logger = logging.getLogger(__name__)

STEP_SWEEP_SECONDS = 10.0


class WorkerSweeps(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.tref = None
        self.steps_swept_at = 0.0

    def start(self, worker) -> None:
        # Imported now: the apps are loaded once the worker starts, not when Celery loads this.
        from catalog import orders
        from core import outbox
        from provisioning import services as provisioning_services

        self.outbox_relay = outbox.outbox_relay
        self.steps_resume = provisioning_services.steps_resume
        self.orders_deploy_overdue = orders.orders_deploy_overdue
        self.tref = worker.timer.call_repeatedly(outbox.RELAY_SECONDS, self.sweep, ())

    def stop(self, worker) -> None:
        if self.tref is not None:
            self.tref.cancel()

    def sweep(self) -> None:
        close_old_connections()  # a connection the database dropped is replaced, as per request
        try:
            if time.monotonic() - self.steps_swept_at >= STEP_SWEEP_SECONDS:
                self.steps_swept_at = time.monotonic()
                if resumed := self.steps_resume():
                    logger.warning("re-queued %d step(s) whose worker went silent", resumed)
                if started := self.orders_deploy_overdue():
                    logger.warning("started %d approved order(s) whose message was lost", started)
            if relayed := self.outbox_relay():
                logger.info("outbox: published %d message(s) left behind", relayed)
        except UNAVAILABLE_ERRORS as error:  # the database is down: said once per tick, briefly
            logger.warning("worker sweep failed, next try in a few seconds: %s", error)
        except Exception:
            logger.exception("worker sweep failed; next try in a few seconds")
        finally:
            close_old_connections()
