"""The usage rollups: kept by metering as it writes rows, equal to the rows they sum, rebuilt
the same from scratch."""

from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from billing.models import Usage, UsageDay, UsageResourceMonth
from billing.services.metering import meter_hour, meter_range
from billing.services.rollups import rollups_rebuild
from billing.tests.helpers import T0, at, event, make_resource

pytestmark = pytest.mark.django_db


SUMS = {"cost": Sum("cost"), "hours": Sum("hours"), "running_hours": Sum("running_hours")}


def _by_day_and_project(rows) -> dict:
    return {
        (row.pop("day"), row.pop("project_id")): row
        for row in rows.values("day", "project_id").annotate(**SUMS).order_by()
    }


def _usage_by_day_and_project() -> dict:
    by_day: dict = {}
    for row in Usage.objects.values("hour", "project_id", "cost", "hours", "running_hours"):
        sums = by_day.setdefault((row["hour"].date(), row["project_id"]), dict.fromkeys(SUMS, 0))
        for name in SUMS:
            sums[name] += row[name]
    return by_day


def test_metering_keeps_the_rollups_equal_to_the_rows(world):
    server = make_resource(world, size="small")
    disk = make_resource(world, kind="volume", user="dave", project="data_lab", size_gb=100)
    event(server, "created", at(0.5), size="small")
    event(server, "stopped", at(20))
    event(disk, "created", at(1), quantity=Decimal("100"))
    meter_range(start=T0, end=at(30))  # over two days
    meter_hour(hour=at(3))  # again: nothing added twice
    assert _by_day_and_project(UsageDay.objects.all()) == _usage_by_day_and_project()
    by_resource = dict(
        UsageResourceMonth.objects.values_list("resource_id").annotate(Sum("cost")).order_by()
    )
    assert by_resource == dict(
        Usage.objects.values_list("resource_id").annotate(Sum("cost")).order_by()
    )
    counts = UsageDay.objects.aggregate(rows=Count("pk"), created=Sum("created"))
    assert counts["created"] == 0  # the world's small server has no one-time fee
    assert counts["rows"] == len(_usage_by_day_and_project())  # one key per day and project

    before = sorted(UsageDay.objects.values_list("day", "project_id", "kind", "cost"))
    assert rollups_rebuild() == len(before)
    assert sorted(UsageDay.objects.values_list("day", "project_id", "kind", "cost")) == before
