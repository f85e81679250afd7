from rest_framework import viewsets

from autoscaling.api.serializers import (
    ScalingActivitySerializer,
    ScalingPolicySerializer,
    ScalingScheduleSerializer,
)
from autoscaling.selectors import activity_list, policy_list, schedule_list
from autoscaling.services import policy_delete, policy_save, schedule_delete, schedule_save


class ScalingPolicyViewSet(viewsets.ModelViewSet):
    """Scaling policies of the autoscaling groups in the caller's projects. The project's
    managers and the organization's admins create, change and delete them."""

    serializer_class = ScalingPolicySerializer
    filterset_fields = ["group", "metric", "enabled"]

    def get_queryset(self):
        return policy_list(user=self.request.user).order_by("id")

    def perform_create(self, serializer):
        serializer.instance = policy_save(
            user=self.request.user, policy=None, data=serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = policy_save(
            user=self.request.user, policy=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        policy_delete(user=self.request.user, policy=instance)


class ScalingScheduleViewSet(viewsets.ModelViewSet):
    """Schedules of the autoscaling groups in the caller's projects: while one is active the
    group keeps at least its `desired` servers. Managers change them."""

    serializer_class = ScalingScheduleSerializer
    filterset_fields = ["group", "enabled"]

    def get_queryset(self):
        return schedule_list(user=self.request.user).order_by("id")

    def perform_create(self, serializer):
        serializer.instance = schedule_save(
            user=self.request.user, schedule=None, data=serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = schedule_save(
            user=self.request.user, schedule=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance):
        schedule_delete(user=self.request.user, schedule=instance)


class ScalingActivityViewSet(viewsets.ReadOnlyModelViewSet):
    """What autoscaling did to the caller's groups, newest first: requested, completed, failed,
    and refused actions (over quota or budget) with the reason."""

    serializer_class = ScalingActivitySerializer
    filterset_fields = ["group", "status"]

    def get_queryset(self):
        return activity_list(user=self.request.user)
