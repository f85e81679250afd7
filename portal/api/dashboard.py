"""The dashboard as JSON, and a resource's utilisation series."""

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import BudgetStatusSerializer, ChargebackRowSerializer
from portal.dashboard import CHART_RANGE_CHOICES, CHART_RANGES, dashboard_summary
from provisioning.selectors import resource_list, resource_metrics


class _Counts(serializers.Serializer):
    total = serializers.IntegerField()


class ResourceCountsSerializer(_Counts):
    by_state = serializers.DictField(child=serializers.IntegerField())
    by_provider = serializers.DictField(child=serializers.IntegerField())
    counted_at = serializers.DateTimeField(
        help_text="When the counts were taken: beat recounts every 30 seconds."
    )


class OrderBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = serializers.CharField(source="item.slug")
    project = serializers.IntegerField(source="project_id")
    status = serializers.CharField()
    updated_at = serializers.DateTimeField()


class OrdersInFlightSerializer(_Counts):
    by_status = serializers.DictField(child=serializers.IntegerField())
    recent = OrderBriefSerializer(many=True)


class ApprovalCountsSerializer(serializers.Serializer):
    mine = serializers.IntegerField(help_text="Waiting for the caller's decision.")
    total = serializers.IntegerField(help_text="Waiting in the projects the caller sees.")


class SpendSerializer(serializers.Serializer):
    month = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    by_project = ChargebackRowSerializer(many=True, help_text="The month's top projects.")
    budgets = BudgetStatusSerializer(many=True)
    running_at = serializers.DateTimeField(
        help_text="When what runs now was counted (beat recounts every 30 seconds); its accrual "
        "is carried on to now at its price per hour."
    )


class FailureSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    what = serializers.CharField()
    message = serializers.CharField()
    url = serializers.CharField()


class LifecyclePanelSerializer(serializers.Serializer):
    expiring_count = serializers.IntegerField(help_text="Leases expiring within 7 days.")
    retired_count = serializers.IntegerField(help_text="Retired, in their grace period.")
    open_cases = serializers.IntegerField(help_text="Idle-reclaim cases not closed.")
    savings_month = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()


class ScalingGroupSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="group.pk")
    name = serializers.CharField(source="group.name")
    project = serializers.IntegerField(source="group.project_id")
    current = serializers.IntegerField(help_text="Servers not deleted.")
    desired = serializers.IntegerField(allow_null=True)
    min = serializers.IntegerField(allow_null=True)
    max = serializers.IntegerField(allow_null=True)


class AutoscalingPanelSerializer(serializers.Serializer):
    groups = ScalingGroupSerializer(many=True)
    refused_count = serializers.IntegerField(help_text="Scaling actions refused in the last day.")


class DriftSerializer(serializers.Serializer):
    resource = serializers.IntegerField(source="resource_id")
    resource_name = serializers.CharField(source="resource.name")
    field = serializers.CharField(source="get_field_display")
    recorded = serializers.CharField(help_text="What Canopy had recorded.")
    reported = serializers.CharField(help_text="What the provider reported.")
    outcome = serializers.CharField(source="get_outcome_display")
    detected_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


class DriftPanelSerializer(serializers.Serializer):
    open = serializers.IntegerField(help_text="Drifts not yet restored.")
    recent = DriftSerializer(many=True)


class DashboardSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    resources = ResourceCountsSerializer()
    orders = OrdersInFlightSerializer()
    approvals = ApprovalCountsSerializer()
    spend = SpendSerializer()
    failures = FailureSerializer(many=True)
    lifecycle = LifecyclePanelSerializer()
    autoscaling = AutoscalingPanelSerializer()
    drift = DriftPanelSerializer()


class DashboardView(APIView):
    """What the dashboard shows the caller: resources by state and provider, orders in flight,
    approvals waiting, this month's spend against budgets, failures of the last 24 hours."""

    @extend_schema(responses={200: DashboardSerializer})
    def get(self, request):
        return Response(DashboardSerializer(dashboard_summary(user=request.user)).data)


MAX_POINTS = 2000


class MetricsQuerySerializer(serializers.Serializer):
    range = serializers.ChoiceField(
        choices=list(CHART_RANGES),
        required=False,
        error_messages={"invalid_choice": CHART_RANGE_CHOICES},
        help_text="The resource page's chart range: sets the defaults of since and step.",
    )
    since = serializers.DateTimeField(
        required=False, help_text="Default: the range (an hour) before until."
    )
    until = serializers.DateTimeField(required=False, help_text="Default: now.")
    step = serializers.IntegerField(
        required=False,
        min_value=60,
        max_value=86400,
        help_text="Seconds per point. Default: the range's step, else 300.",
    )

    def validate(self, attrs: dict) -> dict:
        length, step = CHART_RANGES.get(
            attrs.get("range"), (timedelta(hours=1), timedelta(minutes=5))
        )
        attrs.setdefault("step", int(step.total_seconds()))
        try:
            attrs.setdefault("until", timezone.now())
            attrs.setdefault("since", attrs["until"] - length)
        except OverflowError:
            raise serializers.ValidationError({"until": ["Out of range."]}) from None
        if attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"since": ["Must be before until."]})
        points = (attrs["until"] - attrs["since"]).total_seconds() / attrs["step"]
        if points > MAX_POINTS:
            raise serializers.ValidationError(
                {"step": [f"At most {MAX_POINTS} points per request: widen the step."]}
            )
        return attrs


class MetricPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="Start of the interval the values average.")
    cpu_percent = serializers.FloatField()
    network_kbps = serializers.FloatField(help_text="In and out.")


class ResourceMetricsView(APIView):
    """CPU and network of a server (or the average over an autoscaling group's servers), one
    point per step, oldest first; an empty list when the provider offers no metrics."""

    @extend_schema(
        parameters=[MetricsQuerySerializer],
        responses={200: MetricPointSerializer(many=True), 400: OpenApiResponse(), 404: None},
    )
    def get(self, request, resource_id: int):
        resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        points = resource_metrics(
            resource=resource,
            since=query.validated_data["since"],
            until=query.validated_data["until"],
            step=timedelta(seconds=query.validated_data["step"]),
        )
        return Response(MetricPointSerializer(points, many=True).data)
