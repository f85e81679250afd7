from collections.abc import Callable

from rest_framework import viewsets

from autoscaling.api.serializers import (
    ScalingActivitySerializer,
    ScalingPolicySerializer,
    ScalingScheduleSerializer,
)
from autoscaling.selectors import activity_list, policy_list, schedule_list
from autoscaling.services import policy_delete, policy_save, schedule_delete, schedule_save


class _RuleViewSet(viewsets.ModelViewSet):
    """A kind of scaling rule: its selector and services (which check who may change a rule and
    audit the change), and `rule`, the services' keyword for one."""

    rule: str
    rule_list: Callable
    rule_save: Callable
    rule_delete: Callable

    def get_queryset(self):
        return self.rule_list(user=self.request.user).order_by("id")

    def perform_create(self, serializer):
        serializer.instance = self.rule_save(
            user=self.request.user, **{self.rule: None}, data=serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = self.rule_save(
            user=self.request.user,
            **{self.rule: serializer.instance},
            data=serializer.validated_data,
        )

    def perform_destroy(self, instance):
        self.rule_delete(user=self.request.user, **{self.rule: instance})


class ScalingPolicyViewSet(_RuleViewSet):
    """Scaling policies of the autoscaling groups in the caller's projects. The project's
    managers and the organization's admins create, change and delete them."""

    serializer_class = ScalingPolicySerializer
    filterset_fields = ["group", "metric", "enabled"]
    rule = "policy"
    rule_list = staticmethod(policy_list)
    rule_save = staticmethod(policy_save)
    rule_delete = staticmethod(policy_delete)


class ScalingScheduleViewSet(_RuleViewSet):
    """Schedules of the autoscaling groups in the caller's projects: while one is active the
    group keeps at least its `desired` servers. Managers change them."""

    serializer_class = ScalingScheduleSerializer
    filterset_fields = ["group", "enabled"]
    rule = "schedule"
    rule_list = staticmethod(schedule_list)
    rule_save = staticmethod(schedule_save)
    rule_delete = staticmethod(schedule_delete)


class ScalingActivityViewSet(viewsets.ReadOnlyModelViewSet):
    """What autoscaling did to the caller's groups, newest first: requested, completed, failed,
    and refused actions (over quota or budget) with the reason."""

    serializer_class = ScalingActivitySerializer
    filterset_fields = ["group", "status"]

    def get_queryset(self):
        return activity_list(user=self.request.user)
