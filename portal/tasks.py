"""The shell's periodic jobs: the rollups the dashboard and /metrics read."""

from celery import shared_task

from billing.running import running_rollup_refresh
from portal.rollups import rollups_refresh


@shared_task
def refresh_rollups() -> int:
    running_rollup_refresh()
    return rollups_refresh()
