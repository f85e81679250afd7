"""Scaling rules (policies and schedules) are checked, and managers alone set them."""

from datetime import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from autoscaling.models import ScalingPolicy, ScalingSchedule
from autoscaling.services import policy_save, schedule_save
from autoscaling.tests.helpers import (
    POLICY,
    scaling_group,
)

pytestmark = pytest.mark.django_db


def test_rules_are_checked_and_limited_to_managers(shop):
    group = scaling_group(shop)
    with pytest.raises(PermissionDenied):
        policy_save(user=shop["alice"], policy=None, data={"group": group, **POLICY})
    with pytest.raises(ValidationError) as error:
        policy_save(
            user=shop["bob"],
            policy=None,
            data={"group": group, **POLICY, "scale_in_threshold": 80, "max_size": 9},
        )
    assert set(error.value.message_dict) == {"scale_in_threshold", "max_size"}
    server = group.children.first()
    with pytest.raises(ValidationError, match="autoscaling groups only"):
        policy_save(user=shop["bob"], policy=None, data={"group": server, **POLICY})
    with pytest.raises(ValidationError) as error:
        schedule_save(
            user=shop["bob"],
            schedule=None,
            data={
                "group": group,
                "name": "x",
                "days": [7],
                "start": time(8),
                "end": time(8),
                "timezone": "Mars/Olympus",
                "desired": 5,
            },
        )
    assert set(error.value.message_dict) == {"days", "end", "timezone", "desired"}
    assert not ScalingPolicy.objects.exists() and not ScalingSchedule.objects.exists()
