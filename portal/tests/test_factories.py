"""portal's factories build rollup rows as beat leaves them: fresh ones are read as they are,
scoped to the projects asked for; one beat left behind is recounted from the estate."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Project
from portal.rollups import STALE_AFTER, counts_by, resource_counts, step_counts
from portal.tests.factories import ResourceCountFactory, StepCountFactory

pytestmark = pytest.mark.django_db


def test_fresh_rollups_are_read_as_built() -> None:
    mine = ResourceCountFactory(n=3)
    ResourceCountFactory(project=mine.project, state="stopped", n=2)
    ResourceCountFactory(n=5)  # another project's
    StepCountFactory(state="failed", n=4, retries=6)

    counts, counted_at = resource_counts(projects=Project.objects.filter(pk=mine.project_id))
    assert sorted(counts_by(counts, "state")) == [("active", 3), ("stopped", 2)]
    assert counted_at == mine.refreshed_at
    assert list(step_counts().values_list("state", "n", "retries")) == [("failed", 4, 6)]


def test_a_rollup_beat_left_behind_is_recounted() -> None:
    ResourceCountFactory(n=7, refreshed_at=timezone.now() - STALE_AFTER - timedelta(seconds=1))
    counts, _ = resource_counts()
    assert not counts.exists()  # no resource at all: the recount leaves no row
