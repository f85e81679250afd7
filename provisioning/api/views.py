from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.models import Organization, Project
from provisioning.api.serializers import ResourceSummarySerializer
from provisioning.filtersets import ResourceFilterSet
from provisioning.models import CloudAccount
from provisioning.selectors import cloud_accounts_administered, resource_list, resource_secret
from provisioning.services import (
    cloud_account_create,
    cloud_account_test,
    cloud_account_update,
)


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


class ResourceViewSet(viewsets.ReadOnlyModelViewSet):
    """Resources of the caller's projects; their day-2 actions are
    `catalog.api.views.ResourceActionView` (changes become orders)."""

    serializer_class = ResourceSerializer
    filterset_class = ResourceFilterSet

    def get_queryset(self):
        return resource_list(user=self.request.user).select_related("order__lease")

    @extend_schema(
        responses=inline_serializer(
            "ResourceSecret",
            {"user": serializers.CharField(), "password": serializers.CharField()},
        )
    )
    @action(detail=True, methods=["get"])
    def secret(self, request, pk=None):
        """A generated secret (a database's password), for the order's requester only."""
        secret = resource_secret(user=request.user, resource=self.get_object())
        if not secret:
            return Response({"detail": "No secret you may see."}, status=status.HTTP_404_NOT_FOUND)
        return Response(secret)


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


class CloudAccountViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Cloud accounts of the organizations the caller administers. Credentials are write-only."""

    serializer_class = CloudAccountSerializer
    queryset = CloudAccount.objects.none()  # tells the schema the id's type; see get_queryset
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        accounts = cloud_accounts_administered(user=self.request.user)
        return accounts.select_related("organization").prefetch_related("projects")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        organization = data.pop("organization")
        serializer.instance = cloud_account_create(
            user=self.request.user, organization=organization, data=data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization", None)  # an account does not move between organizations
        serializer.instance = cloud_account_update(
            user=self.request.user, account=serializer.instance, data=data
        )

    @extend_schema(request=None, responses={200: ConnectionTestSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Connect to the provider with the stored credentials and say what failed."""
        problem = cloud_account_test(user=request.user, account=self.get_object())
        return Response({"ok": not problem, "problem": problem})
