from decimal import Decimal

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStage,
    Delegation,
    OrderKind,
    PolicyStage,
    Quota,
)
from approvals.selectors.quota import quota_usage
from catalog.api.serializers import OrderSerializer


class DecisionRecordSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, allow_null=True)
    on_behalf_of = serializers.CharField(
        source="on_behalf_of.username", default=None, allow_null=True
    )

    class Meta:
        model = ApprovalDecision
        fields = ["user", "on_behalf_of", "approve", "comment", "at"]


class StageSerializer(serializers.ModelSerializer):
    approvers = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)
    decisions = DecisionRecordSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalStage
        fields = [
            "position",
            "name",
            "role",
            "mode",
            "status",
            "approvers",
            "opened_at",
            "due_at",
            "escalations",
            "decisions",
        ]


class ApprovalSerializer(serializers.ModelSerializer):
    order = OrderSerializer()
    decided_by = serializers.CharField(source="decided_by.username", default=None, allow_null=True)
    policy = serializers.CharField(source="policy_name")
    current_stage = serializers.IntegerField(
        source="current_stage.position", default=None, allow_null=True
    )
    stages = StageSerializer(many=True, read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "status",
            "order",
            "policy",
            "reason",
            "current_stage",
            "stages",
            "decided_by",
            "decided_at",
            "comment",
            "created_at",
        ]


class ApprovalDecidedSerializer(ApprovalSerializer):
    """The answer to a decision: the request as it now stands (its status, the stage open next,
    who decided, its order), without re-reading the whole chain: `GET /api/v1/approvals/{id}/`
    lists every stage with its approvers and decisions."""

    class Meta(ApprovalSerializer.Meta):
        fields = [name for name in ApprovalSerializer.Meta.fields if name != "stages"]


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class DelegationSerializer(serializers.ModelSerializer):
    delegator = serializers.CharField(source="delegator.username", read_only=True)
    delegate = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True)
    )

    class Meta:
        model = Delegation
        # The date-order rule lives in delegation_create; its field error comes back as a 400.
        fields = ["id", "delegator", "delegate", "starts_on", "ends_on", "created_at"]


class PolicyStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = PolicyStage
        fields = ["name", "role", "group", "mode", "skip_at_or_below", "sla_hours", "on_timeout"]


class PolicySerializer(serializers.ModelSerializer):
    stages = PolicyStageSerializer(many=True, required=False)
    resource_kinds = serializers.ListField(
        child=serializers.ChoiceField(
            choices=[
                "server",
                "volume",
                "network",
                "load_balancer",
                "dns_record",
                "database",
                "autoscaling_group",
            ]
        ),
        required=False,
    )

    order_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=OrderKind.choices),
        required=False,
        help_text="Matches orders of these kinds; empty: every kind.",
    )

    class Meta:
        model = ApprovalPolicy
        fields = [
            "id",
            "name",
            "description",
            "is_active",
            "organization",
            "project",
            "catalog_item",
            "category",
            "resource_kinds",
            "order_kinds",
            "min_monthly_cost",
            "max_monthly_cost",
            "min_cost_delta",
            "max_cost_delta",
            "only_over_quota",
            "auto_approve_below",
            "distinct_approvers",
            "reject_needs_reason",
            "over_quota_action",
            "over_quota_role",
            "stages",
        ]

    def validate(self, attrs: dict) -> dict:
        low, high = attrs.get("min_monthly_cost"), attrs.get("max_monthly_cost")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"max_monthly_cost": "Must not be below min_monthly_cost."}
            )
        low, high = attrs.get("min_cost_delta"), attrs.get("max_cost_delta")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"max_cost_delta": "Must not be below min_cost_delta."}
            )
        for index, stage in enumerate(attrs.get("stages") or []):
            if stage.get("role") == "group" and not stage.get("group"):
                raise serializers.ValidationError(
                    {"stages": {index: {"group": "A group stage names its group."}}}
                )
        return attrs


class FiguresSerializer(serializers.Serializer):
    servers = serializers.IntegerField()
    vcpus = serializers.IntegerField()
    ram_gb = serializers.DecimalField(max_digits=10, decimal_places=2)
    storage_gb = serializers.IntegerField()
    monthly_cost = serializers.DecimalField(max_digits=12, decimal_places=2)


class QuotaSerializer(serializers.ModelSerializer):
    max_ram_gb = serializers.DecimalField(
        max_digits=10, decimal_places=2, allow_null=True, required=False, min_value=Decimal("0")
    )
    max_monthly_cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, required=False, min_value=Decimal("0")
    )
    reserved = serializers.SerializerMethodField()
    used = serializers.SerializerMethodField()

    class Meta:
        model = Quota
        fields = [
            "id",
            "project",
            "organization",
            "max_servers",
            "max_vcpus",
            "max_ram_gb",
            "max_storage_gb",
            "max_monthly_cost",
            "reserved",
            "used",
        ]
        read_only_fields = ["id", "project", "organization"]

    # Figures come from the ledger, so a project without limits (an unsaved Quota) has them too.
    # One ledger query per quota serves both `reserved` and `used`.
    def to_representation(self, quota: Quota) -> dict:
        self._usage = quota_usage(quota=quota)
        return super().to_representation(quota)

    @extend_schema_field(FiguresSerializer)
    def get_reserved(self, quota: Quota) -> dict:
        return FiguresSerializer(self._usage["reserved"]).data

    @extend_schema_field(FiguresSerializer)
    def get_used(self, quota: Quota) -> dict:
        return FiguresSerializer(self._usage["used"]).data
