"""Shapes of leases, idle policies, reclaim cases, keep marks and savings."""

from django.core.exceptions import ValidationError
from rest_framework import serializers

from billing.selectors.periods import period_parse
from core.models import Organization, Project
from lifecycle.models import IdlePolicy, Lease, ReclaimCase, ResourceKeep
from lifecycle.selectors.preview import MAX_PREVIEW_DAYS
from lifecycle.selectors.savings import SAVINGS_GROUPS
from lifecycle.services.leases import MAX_EXTENSION_DAYS


class LeaseSerializer(serializers.ModelSerializer):
    item = serializers.CharField(source="order.item.slug", read_only=True)
    project = serializers.IntegerField(source="order.project_id", read_only=True)

    class Meta:
        model = Lease
        fields = [
            "id",
            "order",
            "item",
            "project",
            "state",
            "starts_at",
            "expires_at",
            "retired_at",
            "delete_at",
            "warnings_sent",
        ]


class LeaseExtendSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=MAX_EXTENSION_DAYS, help_text="days added to the expiry"
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="why: required beyond the maximum, where it is a change order to approve",
    )


class IdlePolicySerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(
        slug_field="slug", queryset=Organization.objects.all(), required=False, allow_null=True
    )
    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = IdlePolicy
        fields = ["id", "name", "organization", "project", *IdlePolicy.SETTINGS[1:]]
        extra_kwargs = {
            "cpu_below_percent": {"min_value": 0, "max_value": 100},
            "network_below_kbps": {"min_value": 0, "max_value": 10_000_000},
        }


class ReclaimCaseSerializer(serializers.ModelSerializer):
    resource_name = serializers.CharField(source="resource.name", read_only=True)

    class Meta:
        model = ReclaimCase
        fields = [
            "id",
            "resource",
            "resource_name",
            "policy",
            "grade",
            "opened_at",
            "graded_at",
            "closed_at",
            "close_reason",
            "evidence",
        ]


class ResourceKeepSerializer(serializers.ModelSerializer):
    """A keep mark; on create, the resource must be one the caller may order for."""

    resource = serializers.IntegerField(source="resource_id", min_value=1, max_value=2**63 - 1)
    user = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ResourceKeep
        fields = ["id", "resource", "reason", "user", "created_at"]


class SavingsQuerySerializer(serializers.Serializer):
    period = serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        help_text="A month, YYYY-MM; the current month when neither period nor start/end.",
    )
    start = serializers.DateField(required=False, help_text="First day of a range (inclusive).")
    end = serializers.DateField(required=False, help_text="Last day of a range (inclusive).")
    group_by = serializers.ChoiceField(choices=list(SAVINGS_GROUPS), default="project")

    def validate(self, attrs: dict) -> dict:
        try:
            attrs["period"] = period_parse(
                period=attrs.get("period"),
                start=attrs.pop("start", None),
                end=attrs.pop("end", None),
            )
        except ValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        return attrs


class SavingsRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    amount = serializers.DecimalField(max_digits=16, decimal_places=2)
    hourly_now = serializers.DecimalField(
        max_digits=16, decimal_places=6, help_text="what is being saved per hour right now"
    )


class SavingsSerializer(serializers.Serializer):
    period = serializers.CharField(source="period.label")
    group_by = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=16, decimal_places=2)
    rows = SavingsRowSerializer(many=True)


class AdoptableServerSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="server.pk")
    name = serializers.CharField(source="server.name")
    cloud_account = serializers.IntegerField(source="server.account_id")
    external_id = serializers.CharField(source="server.external_id")
    state = serializers.CharField(source="server.state")
    size = serializers.CharField(source="server.size")
    tags = serializers.DictField(source="server.tags", child=serializers.CharField())
    launched_at = serializers.DateTimeField(source="server.launched_at", allow_null=True)
    first_seen = serializers.DateTimeField(source="server.first_seen")
    suggested_project = serializers.IntegerField(
        source="suggested.pk", allow_null=True, default=None, help_text="From its tags."
    )


class AdoptSerializer(serializers.Serializer):
    objects = serializers.ListField(
        child=serializers.IntegerField(), allow_empty=False, help_text="Adoptable server ids."
    )
    project = serializers.IntegerField()
    observe_only = serializers.BooleanField(
        default=False, help_text="Metered and reported; Canopy takes no action on them."
    )


class PreviewQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(default=30, min_value=1, max_value=MAX_PREVIEW_DAYS)


class PreviewResourceSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    kind = serializers.CharField()


class PlannedActionSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    source = serializers.CharField(help_text="idle or lease")
    action = serializers.CharField(help_text="notify, stop, retire or delete")
    order = serializers.IntegerField(source="order_id")
    resources = PreviewResourceSerializer(many=True)
    why = serializers.CharField()
    hourly_saving = serializers.DecimalField(max_digits=14, decimal_places=6)
    saving_in_horizon = serializers.DecimalField(max_digits=14, decimal_places=2)


class ProjectPreviewSerializer(serializers.Serializer):
    project = serializers.IntegerField(source="project.pk")
    project_name = serializers.CharField(source="project.name")
    saving_in_horizon = serializers.DecimalField(max_digits=14, decimal_places=2)
    actions = PlannedActionSerializer(many=True)
