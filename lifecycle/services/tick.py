"""The periodic task: leases and idle reclaim at `now`."""

from datetime import datetime

from django.utils import timezone

from lifecycle.services.leases import lease_process
from lifecycle.services.reclaim import reclaim_evaluate


def lifecycle_tick(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    now = now or timezone.now()
    return {"leases": lease_process(now=now), "reclaim": reclaim_evaluate(now=now)}
