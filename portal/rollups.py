"""Rollups the dashboard and /metrics read instead of the whole estate.

Counting resources by state is a GROUP BY over every resource: its cost grows with the estate
(a second at 100,000 resources). Beat recomputes the counts per project every 30 seconds
("refresh-rollups" in the settings) into `ResourceCount`, and the readers sum those few hundred
rows for the projects a user sees, whatever the size of the estate. The counts are as of their
`refreshed_at` (the pages say so). When beat does not run (a developer's `runserver`, a fresh
database), a read that finds no rollup, or one older than `STALE_AFTER`, recomputes it first.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Min, QuerySet, Sum
from django.utils import timezone

from portal.models import ResourceCount
from provisioning.models import Resource

STALE_AFTER = timedelta(minutes=5)


@transaction.atomic
def resource_counts_refresh(*, now: datetime | None = None) -> int:
    """Recompute every project's resource counts: one GROUP BY, its rows replacing the old ones
    in one transaction (readers see the old counts until it commits). Returns the row count."""
    now = now or timezone.now()
    rows = (
        Resource.objects.values_list("project_id", "state", "cloud_account__provider", "kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    ResourceCount.objects.all().delete()
    # A refresh running at the same time inserted these keys already: its counts are as new.
    created = ResourceCount.objects.bulk_create(
        [
            ResourceCount(
                project_id=project_id,
                state=state,
                provider=provider,
                kind=kind,
                n=n,
                refreshed_at=now,
            )
            for project_id, state, provider, kind, n in rows
        ],
        ignore_conflicts=True,
    )
    return len(created)


def resource_counts(*, projects: QuerySet | None = None) -> tuple[QuerySet, datetime]:
    """The rollup's rows (of `projects`, a queryset of project ids, when given) and when they
    were counted; refreshed first when beat has not done it lately."""
    refreshed = ResourceCount.objects.aggregate(at=Min("refreshed_at"))["at"]
    if refreshed is None or refreshed < timezone.now() - STALE_AFTER:
        refreshed = timezone.now()
        resource_counts_refresh(now=refreshed)
    counts = ResourceCount.objects.all()
    return (counts if projects is None else counts.filter(project__in=projects)), refreshed


def counts_by(counts: QuerySet[ResourceCount], *fields: str) -> list[tuple]:
    """The rollup summed by `fields`: (*values, n) rows, in one small GROUP BY."""
    return list(counts.values_list(*fields).annotate(total=Sum("n")).order_by())
