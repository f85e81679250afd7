"""Scaling schedules: a floor while active (a policy may not go below it), and, without a
policy, the target an overnight schedule sets."""

from datetime import UTC, datetime, time

import pytest

from autoscaling.models import ScalingActivity
from autoscaling.selectors import group_size
from autoscaling.services import evaluate, policy_save, schedule_save
from autoscaling.tests.factories import ScalingScheduleFactory
from autoscaling.tests.helpers import (
    MINUTE,
    POLICY,
    scaling_group,
    settle_and_check,
)
from provisioning.services.simulation import simulated_load_set

pytestmark = pytest.mark.django_db


def test_schedules_set_a_floor_while_active(shop):
    group = scaling_group(shop)
    # Office hours, Monday to Friday 08:00-18:00 Berlin time: at least 3 servers.
    schedule_save(
        user=shop["bob"],
        schedule=None,
        data={
            "group": group,
            "name": "office hours",
            "days": [0, 1, 2, 3, 4],
            "start": time(8),
            "end": time(18),
            "timezone": "Europe/Berlin",
            "desired": 3,
        },
    )
    simulated_load_set(resource=group, load=10)
    wednesday_night = datetime(2030, 3, 6, 22, 0, tzinfo=UTC)  # 23:00 in Berlin
    assert evaluate(now=wednesday_night) == 0
    thursday_morning = datetime(2030, 3, 7, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
    assert evaluate(now=thursday_morning) == 1
    settle_and_check(group)
    assert group_size(group=group) == 3
    activity = ScalingActivity.objects.get(group=group)
    assert "office hours" in activity.cause

    # A policy may not take it below the floor while the schedule is active, however idle.
    policy_save(user=shop["bob"], policy=None, data={"group": group, **POLICY, "cooldown": 1})
    assert evaluate(now=thursday_morning + 30 * MINUTE) == 0
    # After office hours the idle group shrinks step by step to min.
    evening = datetime(2030, 3, 7, 18, 0, tzinfo=UTC)  # 19:00 in Berlin
    for minutes in (0, 2):
        assert evaluate(now=evening + minutes * MINUTE) == 1
        settle_and_check(group)
    assert group_size(group=group) == 1


def test_overnight_schedule_without_policy_is_the_target(shop):
    group = scaling_group(shop)
    ScalingScheduleFactory(
        group=group,
        name="nightly batch",
        days=[2],  # starts Wednesday, runs into Thursday
        start=time(22),
        end=time(2),
        desired=2,
    )
    assert evaluate(now=datetime(2030, 3, 7, 1, 0, tzinfo=UTC)) == 1  # Thursday 01:00
    settle_and_check(group)
    assert group_size(group=group) == 2
    # Once it ends no rule applies: without a policy or another schedule the group stays.
    assert evaluate(now=datetime(2030, 3, 7, 2, 30, tzinfo=UTC)) == 0
    assert group_size(group=group) == 2
    # A second schedule for the small hours brings it down to its own count.
    ScalingScheduleFactory(
        group=group, name="small hours", days=[3], start=time(2), end=time(6), desired=1
    )
    assert evaluate(now=datetime(2030, 3, 7, 2, 45, tzinfo=UTC)) == 1
    settle_and_check(group)
    assert group_size(group=group) == 1
