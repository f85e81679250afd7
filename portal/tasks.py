"""The shell's periodic jobs: the rollups the dashboard and /metrics read."""

from celery import shared_task

from portal.rollups import rollups_refresh


@shared_task
def refresh_rollups() -> int:
    return rollups_refresh()
