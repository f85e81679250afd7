"""Representations of provisioning's rows: resources, cloud accounts, and the steps of a
deployment (which the orders API nests)."""

from rest_framework import serializers

from core.models import Organization, Project
from provisioning.models import CloudAccount, Resource, Step


class ResourceSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Resource
        fields = [
            "id",
            "key",
            "kind",
            "name",
            "parent",
            "state",
            "external_id",
            "public_ips",
            "private_ips",
        ]


class StepSerializer(serializers.ModelSerializer):
    resource = serializers.CharField(source="resource.name")

    class Meta:
        model = Step
        fields = [
            "id",
            "resource",
            "action",
            "state",
            "attempts",
            "last_error",
            "created_at",
            "finished_at",
        ]


class DeploymentStepSerializer(serializers.Serializer):
    """One step of the order's deployment graph (provisioning.selectors.deployment_steps)."""

    id = serializers.IntegerField()
    deployment = serializers.IntegerField(allow_null=True)
    resource = serializers.IntegerField()
    key = serializers.CharField()
    kind = serializers.CharField()
    name = serializers.CharField()
    action = serializers.CharField()
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    depends_on = serializers.ListField(child=serializers.IntegerField())
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class ResourceSerializer(ResourceSummarySerializer):
    parent = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    # The order's lease (lifecycle): every resource of an order shares it; null without one.
    lease_expires_at = serializers.DateTimeField(
        source="order.lease.expires_at", read_only=True, default=None, allow_null=True
    )

    class Meta(ResourceSummarySerializer.Meta):
        fields = [
            *ResourceSummarySerializer.Meta.fields,
            "order",
            "project",
            "key",
            "parent",
            "properties",
            "attributes",
            "status_message",
            "created_at",
            "lease_expires_at",
        ]


class CloudAccountSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(
        slug_field="slug", queryset=Organization.objects.all()
    )
    credentials = serializers.DictField(
        child=serializers.CharField(),
        write_only=True,
        required=False,
        help_text='e.g. {"access_key": "…", "secret_key": "…"} for ec2; never returned',
    )
    projects = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Project.objects.all(), required=False
    )
    has_credentials = serializers.SerializerMethodField()

    class Meta:
        model = CloudAccount
        fields = [
            "id",
            "name",
            "organization",
            "provider",
            "region",
            "endpoint_url",
            "credentials",
            "has_credentials",
            "options",
            "projects",
        ]

    def get_has_credentials(self, account: CloudAccount) -> bool:
        return bool(account.credentials_encrypted)


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    problem = serializers.CharField(allow_blank=True)
