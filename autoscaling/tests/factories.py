"""factory_boy factories for autoscaling: policies and schedules of a group (`group=…`, an
autoscaling group resource), with the model's defaults unless a test says otherwise."""

from datetime import time

import factory

from autoscaling.models import ScalingPolicy, ScalingSchedule


class ScalingPolicyFactory(factory.django.DjangoModelFactory):
    """A CPU policy: out above 70 % for 5 minutes, in below 30 % for 10, one server at a time."""

    class Meta:
        model = ScalingPolicy

    metric = ScalingPolicy.Metric.CPU
    scale_out_threshold = 70
    scale_in_threshold = 30
    step = 1


class ScalingScheduleFactory(factory.django.DjangoModelFactory):
    """Office hours on weekdays, 08:00 to 18:00 UTC, at `desired` servers (default 2)."""

    class Meta:
        model = ScalingSchedule

    name = factory.Sequence(lambda n: f"Schedule {n}")
    days = factory.LazyFunction(lambda: [0, 1, 2, 3, 4])
    start = time(8, 0)
    end = time(18, 0)
    desired = 2
