from celery import shared_task

from lifecycle.services.tick import lifecycle_tick


@shared_task
def tick() -> dict[str, dict[str, int]]:
    """Beat runs this every minute: lease warnings, retirements and deletions, idle reclaim."""
    return lifecycle_tick()
