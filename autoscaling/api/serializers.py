from django.utils import timezone
from rest_framework import serializers

from autoscaling.models import ScalingActivity, ScalingPolicy, ScalingSchedule
from autoscaling.selectors import group_list, schedule_is_active


class GroupField(serializers.PrimaryKeyRelatedField):
    """An autoscaling group the caller sees (who may change its rules is the service's check)."""

    def get_queryset(self):
        return group_list(user=self.context["request"].user)


class ScalingPolicySerializer(serializers.ModelSerializer):
    group = GroupField()

    class Meta:
        model = ScalingPolicy
        fields = [
            "id",
            "group",
            "metric",
            "scale_out_threshold",
            "scale_out_window",
            "scale_in_threshold",
            "scale_in_window",
            "step",
            "cooldown",
            "min_size",
            "max_size",
            "enabled",
            "created_at",
            "updated_at",
        ]


class ScalingScheduleSerializer(serializers.ModelSerializer):
    group = GroupField()
    days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        allow_empty=False,
        help_text="weekdays, 0 = Monday … 6 = Sunday",
    )
    active = serializers.SerializerMethodField(help_text="in force right now")

    class Meta:
        model = ScalingSchedule
        fields = [
            "id",
            "group",
            "name",
            "days",
            "start",
            "end",
            "timezone",
            "desired",
            "enabled",
            "active",
            "created_at",
        ]

    def get_active(self, schedule: ScalingSchedule) -> bool:
        return schedule.enabled and schedule_is_active(schedule=schedule, now=timezone.now())


class ScalingActivitySerializer(serializers.ModelSerializer):
    class Meta:
        model = ScalingActivity
        fields = [
            "id",
            "group",
            "at",
            "from_count",
            "to_count",
            "cause",
            "status",
            "message",
            "finished_at",
        ]
