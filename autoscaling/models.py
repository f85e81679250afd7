"""Autoscaling: the policies and schedules people set on an autoscaling group, and the log of
what Canopy did (or was refused) because of them.

The group itself is a provisioning `Resource` of kind `autoscaling_group`; its `min`/`max`
properties are the hard bounds every rule here stays within.
"""

import zoneinfo

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from provisioning.models import Resource

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def group_bounds(group: Resource) -> tuple[int, int]:
    """The group's hard (min, max): every rule stays within them."""
    return int(group.properties.get("min", 1)), int(group.properties.get("max", 1))


class ScalingPolicy(models.Model):
    """Scale a group out when a metric of its servers stays above a threshold for a window, and
    in when it stays below another one; `min_size`/`max_size` may narrow the group's own bounds.

    "Stays above for a window" means every one-minute point of the group's average in the last
    `scale_out_window` minutes is above the threshold (see `autoscaling.services.decide`).
    """

    class Metric(models.TextChoices):
        CPU = "cpu", "CPU %"
        NETWORK = "network", "Network kbit/s"

    group = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="scaling_policies")
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.CPU)
    scale_out_threshold = models.FloatField(default=70, validators=[MinValueValidator(0)])
    scale_out_window = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(1440)], help_text="minutes"
    )
    scale_in_threshold = models.FloatField(default=30, validators=[MinValueValidator(0)])
    scale_in_window = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(1440)], help_text="minutes"
    )
    step = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="servers added or removed at once"
    )
    cooldown = models.PositiveSmallIntegerField(
        default=5, help_text="minutes without a new action after the last one finished"
    )
    min_size = models.PositiveSmallIntegerField(null=True, blank=True)
    max_size = models.PositiveSmallIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group_id", "id"]
        verbose_name_plural = "scaling policies"
        constraints = [
            models.UniqueConstraint(fields=["group", "metric"], name="one_policy_per_metric")
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} policy of {self.group.name}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.scale_in_threshold >= self.scale_out_threshold:
            errors["scale_in_threshold"] = ["Must be below the scale-out threshold."]
        if self.metric == self.Metric.CPU and self.scale_out_threshold > 100:
            errors["scale_out_threshold"] = ["CPU is a percentage (0..100)."]
        if self.group_id is not None:
            low, high = group_bounds(self.group)
            for name in ("min_size", "max_size"):
                value = getattr(self, name)
                if value is not None and not low <= value <= high:
                    errors[name] = [f"Must be within the group's bounds, {low} to {high}."]
        if (
            self.min_size is not None
            and self.max_size is not None
            and self.min_size > self.max_size
        ):
            errors["max_size"] = ["Must not be below the minimum."]
        if errors:
            raise ValidationError(errors)

    def bounds(self) -> tuple[int, int]:
        """The policy's (min, max), within the group's hard bounds."""
        low, high = group_bounds(self.group)
        return max(low, self.min_size or low), min(high, self.max_size or high)


class ScalingSchedule(models.Model):
    """While active (on `days`, from `start` to `end` in `timezone`; an end before the start
    runs past midnight), the group keeps at least `desired` servers.

    The rule: an active schedule is a floor. Policies may still grow the group above it but
    never shrink it below; a group with no enabled policy is also brought down to it. When
    several schedules are active the highest count wins.
    """

    group = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="scaling_schedules")
    name = models.CharField(max_length=80)
    days = models.JSONField(default=list, help_text="weekdays, 0 = Monday … 6 = Sunday")
    start = models.TimeField()
    end = models.TimeField()
    timezone = models.CharField(max_length=64, default="UTC")
    desired = models.PositiveSmallIntegerField()
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group_id", "start", "id"]

    def __str__(self) -> str:
        return f"{self.name}: {self.desired} servers"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if (
            not isinstance(self.days, list)
            or not self.days
            or not all(isinstance(d, int) and 0 <= d <= 6 for d in self.days)
        ):
            errors["days"] = ["A list of weekdays, 0 = Monday … 6 = Sunday."]
        if self.start == self.end:
            errors["end"] = ["Must differ from the start."]
        if self.timezone not in zoneinfo.available_timezones():
            errors["timezone"] = [f"Unknown time zone {self.timezone!r}."]
        if self.group_id is not None:
            low, high = group_bounds(self.group)
            if self.desired is not None and not low <= self.desired <= high:
                errors["desired"] = [f"Must be within the group's bounds, {low} to {high}."]
        if errors:
            raise ValidationError(errors)

    @property
    def day_names(self) -> str:
        return ", ".join(WEEKDAYS[d] for d in sorted(self.days))


class ScalingActivity(models.Model):
    """One scaling decision: what Canopy asked for and why, and how it ended. A `refused`
    activity (quota, budget) is shown and notified, never silently dropped."""

    class Status(models.TextChoices):
        REQUESTED = "requested"
        REFUSED = "refused"
        COMPLETED = "completed"
        FAILED = "failed"

    group = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="scaling_activities")
    at = models.DateTimeField(db_index=True)
    from_count = models.PositiveSmallIntegerField()
    to_count = models.PositiveSmallIntegerField()
    cause = models.CharField(max_length=300)
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    message = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The saga's final step (set_desired on the group), to tell completed from failed.
    step = models.ForeignKey(
        "provisioning.Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "scaling activities"

    def __str__(self) -> str:
        return f"{self.group.name}: {self.from_count} → {self.to_count} ({self.status})"

    @property
    def direction(self) -> str:
        return "out" if self.to_count > self.from_count else "in"
