"""The one Celery app: configured from Django settings (CELERY_*), tasks found per app."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

from portal.heartbeat import WorkerHeartbeat
from portal.worker_sweeps import WorkerSweeps

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].add(WorkerHeartbeat)  # /health/ checks every queue has a live worker
# The outbox relay and the lost-steps sweep, independent of beat.
app.steps["worker"].add(WorkerSweeps)


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(sender=None, **kwargs) -> None:
    """Around a task what Django does around a request: drop a connection past CONN_MAX_AGE or
    broken (CELERY_DB_REUSE_MAX stops Celery from closing it after every task)."""
    if not getattr(sender.request, "is_eager", False):
        close_old_connections()
