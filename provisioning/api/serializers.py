"""Representations of provisioning's rows that other apps' APIs nest (an order's resources
and steps, a deployment)."""

from rest_framework import serializers

from provisioning.models import Deployment, Resource, Step


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


class DeploymentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Deployment
        fields = ["id", "order", "direction", "state", "message", "created_at", "finished_at"]
