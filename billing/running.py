"""The rollup of what runs now (`RunningRollup`), which the dashboard reads instead of pricing
every live resource on each request.

The accrual (`billing.accrual`) reads one usage row per live resource: its cost grows with the
estate. Beat sums it by whom it is charged to every 30 seconds ("refresh-rollups" in the
settings), metering once it wrote an hour; a reader sums the few rows of the costs the user
reads, as of their `refreshed_at` (the page says so), and carries their accrual on to now at
their price per hour. A read that finds no rollup, one older than `STALE_AFTER`, of another
month or of an hour metered before the last one, recounts it first.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from billing import accrual
from billing.accrual import RunningTotal
from billing.models import RunningRollup
from billing.pricing import ZERO
from billing.selectors.access import running_visible
from billing.selectors.periods import month_period

STALE_AFTER = timedelta(minutes=5)


@transaction.atomic
def running_rollup_refresh(*, now: datetime | None = None) -> int:
    """Recount what runs now and what it accrued this month, by payer: its rows replace the old
    ones in one transaction (readers see the old ones until it commits). Returns how many rows
    there are."""
    now = now or timezone.now()
    period = month_period(now.date())
    metered_hour, totals = accrual.running_totals(start=period.start, end=period.end, now=now)
    RunningRollup.objects.all().delete()
    # Nothing runs: one row of zeros charged to nobody (no project nor user has id 0, so no
    # reader sees it) says it was counted, so that readers do not recount it every time.
    rows = totals or [RunningTotal(organization_id=0, project_id=0, cost_center="", user_id=0)]
    # A refresh running at the same time inserted these keys already: its sums are as new.
    RunningRollup.objects.bulk_create(
        [
            RunningRollup(
                organization_id=total.organization_id,
                project_id=total.project_id,
                cost_center=total.cost_center,
                user_id=total.user_id or 0,
                hourly=total.hourly,
                accrued=total.accrued,
                unpriced=total.unpriced,
                metered_hour=metered_hour,
                refreshed_at=now,
            )
            for total in rows
        ],
        ignore_conflicts=True,
    )
    return len(totals)


def _counted_at(now: datetime) -> datetime:
    """When the rollup was counted; recounted first when it does not hold for `now`."""
    counted = (
        RunningRollup.objects.annotate(latest=accrual.last_metered_hour_subquery(now))
        .values_list("refreshed_at", "metered_hour", "latest")
        .first()
    )
    if (
        counted is None
        or counted[0] < now - STALE_AFTER
        or counted[0].date().replace(day=1) != now.date().replace(day=1)
        or counted[1] != counted[2]
    ):
        running_rollup_refresh(now=now)
        return now
    return counted[0]


def running_rollup(
    *, user: AbstractUser, now: datetime | None = None
) -> tuple[list[RunningTotal], datetime]:
    """What runs now among the costs the user reads, by payer (as `accrual.running_totals`
    answers for now, had nothing started, stopped or changed size since it was counted), and
    when it was counted."""
    now = now or timezone.now()
    counted_at = _counted_at(now)
    # Since the count, each payer's resources ran on at their price per hour.
    end = min(now, month_period(now.date()).end)
    hours = Decimal(max((end - counted_at).total_seconds(), 0)) / accrual.SECONDS_PER_HOUR
    totals = [
        RunningTotal(
            organization_id=row.organization_id,
            project_id=row.project_id,
            cost_center=row.cost_center,
            user_id=row.user_id or None,
            hourly=row.hourly,
            accrued=row.accrued + (row.hourly * hours if hours else ZERO),
            unpriced=row.unpriced,
        )
        for row in running_visible(user=user)
    ]
    return totals, counted_at
