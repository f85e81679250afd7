"""Rollups the dashboard and /metrics read instead of the whole estate.

Counting resources by state is a GROUP BY over every resource, counting steps one over every
step ever run: their cost grows with the estate. Beat recomputes the counts per project every
30 seconds ("refresh-rollups" in the settings) into `ResourceCount` (and the step counts into
`StepCount`), and the readers sum those few hundred rows for the projects a user sees, whatever
the size of the estate. The counts are as of their
`refreshed_at` (the pages say so). When beat does not run (a developer's `runserver`, a fresh
database), a read that finds no rollup, or one older than `STALE_AFTER`, recomputes it first.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Min, QuerySet, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from portal.models import ResourceCount, StepCount
from provisioning.models import Resource, Step

STALE_AFTER = timedelta(minutes=5)


@transaction.atomic
def rollups_refresh(*, now: datetime | None = None) -> int:
    """Recompute the resource counts of every project and the step counts: one GROUP BY each,
    their rows replacing the old ones in one transaction (readers see the old counts until it
    commits). Returns how many resource count rows there are."""
    now = now or timezone.now()
    resources = list(
        Resource.objects.values_list("project_id", "state", "cloud_account__provider", "kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    steps = list(
        Step.objects.values_list("state", "resource__cloud_account__provider", "resource__kind")
        .annotate(n=Count("pk"), retries=Sum(Greatest(F("attempts") - 1, 0)))
        .order_by()
    )
    ResourceCount.objects.all().delete()
    StepCount.objects.all().delete()
    # A refresh running at the same time inserted these keys already: its counts are as new.
    ResourceCount.objects.bulk_create(
        [
            ResourceCount(
                project_id=project_id,
                state=state,
                provider=provider,
                kind=kind,
                n=n,
                refreshed_at=now,
            )
            for project_id, state, provider, kind, n in resources
        ],
        ignore_conflicts=True,
    )
    StepCount.objects.bulk_create(
        [
            StepCount(
                state=state,
                provider=provider,
                kind=kind,
                n=n,
                retries=retries or 0,
                refreshed_at=now,
            )
            for state, provider, kind, n, retries in steps
        ],
        ignore_conflicts=True,
    )
    return len(resources)


def _counted_at() -> datetime:
    """When the rollups were counted; recounted first when beat has not done it lately."""
    refreshed = ResourceCount.objects.aggregate(at=Min("refreshed_at"))["at"]
    if refreshed is None or refreshed < timezone.now() - STALE_AFTER:
        refreshed = timezone.now()
        rollups_refresh(now=refreshed)
    return refreshed


def resource_counts(*, projects: QuerySet | None = None) -> tuple[QuerySet, datetime]:
    """The resource rollup's rows (of `projects`, a queryset of project ids, when given) and
    when they were counted."""
    counted_at = _counted_at()
    counts = ResourceCount.objects.all()
    return (counts if projects is None else counts.filter(project__in=projects)), counted_at


def step_counts() -> QuerySet[StepCount]:
    """The step rollup's rows."""
    _counted_at()
    return StepCount.objects.all()


def counts_by(counts: QuerySet[ResourceCount], *fields: str) -> list[tuple]:
    """The rollup summed by `fields`: (*values, n) rows, in one small GROUP BY."""
    return list(counts.values_list(*fields).annotate(total=Sum("n")).order_by())
