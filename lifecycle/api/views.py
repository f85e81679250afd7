"""Leases, idle policies, reclaim cases, keep marks and savings over the API:
the same selectors and services as the HTML pages."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api.serializers import OrderSerializer
from catalog.models import Order
from lifecycle.api.serializers import (
    AdoptableServerSerializer,
    AdoptSerializer,
    IdlePolicySerializer,
    LeaseExtendSerializer,
    LeaseSerializer,
    PreviewQuerySerializer,
    ProjectPreviewSerializer,
    ReclaimCaseSerializer,
    ResourceKeepSerializer,
    SavingsQuerySerializer,
    SavingsSerializer,
)
from lifecycle.filtersets import LeaseFilterSet
from lifecycle.selectors.adoption import adoptable_servers, adoption_projects
from lifecycle.selectors.leases import lease_list
from lifecycle.selectors.preview import reclaim_preview_by_project
from lifecycle.selectors.reclaim import idle_policy_list, reclaim_case_list, resource_keep_list
from lifecycle.selectors.savings import savings
from lifecycle.services.adoption import unknown_servers_adopt
from lifecycle.services.leases import lease_extend, lease_unretire
from lifecycle.services.reclaim import (
    idle_policy_delete,
    idle_policy_save,
    resource_keep_remove,
    resource_keep_set,
)
from provisioning.selectors import resource_list


class LeaseViewSet(viewsets.ReadOnlyModelViewSet):
    """Leases of the orders in the caller's projects: one per order, shared by its resources."""

    serializer_class = LeaseSerializer
    filterset_class = LeaseFilterSet

    def get_queryset(self):
        return lease_list(user=self.request.user).order_by("expires_at", "id")

    @extend_schema(
        request=LeaseExtendSerializer,
        responses={
            200: OpenApiResponse(LeaseSerializer, description="extended (within the maximum)"),
            202: OpenApiResponse(
                OrderSerializer, description="beyond the maximum: the change order to approve"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def extend(self, request: Request, pk=None) -> Response:
        incoming = LeaseExtendSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = lease_extend(
            user=request.user, lease_id=self.get_object().pk, **incoming.validated_data
        )
        if isinstance(result, Order):
            return Response(OrderSerializer(result).data, status=status.HTTP_202_ACCEPTED)
        return Response(LeaseSerializer(result).data)

    @extend_schema(request=None, responses=LeaseSerializer)
    @action(detail=True, methods=["post"])
    def unretire(self, request: Request, pk=None) -> Response:
        lease = lease_unretire(user=request.user, lease_id=self.get_object().pk)
        return Response(LeaseSerializer(lease).data)


class IdlePolicyViewSet(viewsets.ModelViewSet):
    """Idle-reclaim policies of an organization (`organization`: slug) or of one project
    (`project`: id; it replaces its organization's). Organization admins only. Durations as
    "HH:MM:SS" or "D HH:MM:SS"; an empty wait stops the ladder at that grade."""

    serializer_class = IdlePolicySerializer
    filterset_fields = ["organization", "project", "enabled"]

    def get_queryset(self):
        return idle_policy_list(user=self.request.user)

    def perform_create(self, serializer: IdlePolicySerializer) -> None:
        data = dict(serializer.validated_data)
        organization, project = data.pop("organization", None), data.pop("project", None)
        serializer.instance = idle_policy_save(
            user=self.request.user, organization=organization, project=project, fields=data
        )

    def perform_update(self, serializer: IdlePolicySerializer) -> None:
        data = dict(serializer.validated_data)
        # The scope stays.
        data.pop("organization", None)
        data.pop("project", None)
        serializer.instance = idle_policy_save(
            user=self.request.user, policy=serializer.instance, fields=data
        )

    def perform_destroy(self, instance) -> None:
        idle_policy_delete(user=self.request.user, policy=instance)


class ReclaimCaseViewSet(viewsets.ReadOnlyModelViewSet):
    """Servers found idle, and how far reclaiming them went (open ones have no `closed_at`)."""

    serializer_class = ReclaimCaseSerializer
    filterset_fields = ["grade", "resource", "policy"]

    def get_queryset(self):
        return reclaim_case_list(user=self.request.user)


class ResourceKeepViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Marks that say "keep": idle reclaim leaves these resources alone (a reason is required)."""

    serializer_class = ResourceKeepSerializer
    filterset_fields = ["resource"]

    def get_queryset(self):
        return resource_keep_list(user=self.request.user).order_by("-created_at")

    def perform_create(self, serializer: ResourceKeepSerializer) -> None:
        resource = get_object_or_404(
            resource_list(user=self.request.user), pk=serializer.validated_data["resource_id"]
        )
        serializer.instance = resource_keep_set(
            user=self.request.user,
            resource_id=resource.pk,
            reason=serializer.validated_data["reason"],
        )

    def perform_destroy(self, instance) -> None:
        resource_keep_remove(user=self.request.user, resource_id=instance.resource_id)


class SavingsView(APIView):
    """Cost that stopped accruing because leases and idle reclaim stopped or deleted resources,
    in a period, by project, cost center or source; visible like chargeback."""

    @extend_schema(parameters=[SavingsQuerySerializer], responses=SavingsSerializer)
    def get(self, request: Request) -> Response:
        query = SavingsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = savings(user=request.user, **query.validated_data)
        return Response(SavingsSerializer(report).data)


class AdoptableServerViewSet(viewsets.ViewSet):
    """Servers launched outside Canopy in the accounts of organizations the caller administers,
    with the project their tags suggest; `adopt/` takes one or many into a project."""

    @extend_schema(responses=AdoptableServerSerializer(many=True))
    def list(self, request: Request) -> Response:
        servers = adoptable_servers(user=request.user)
        return Response(AdoptableServerSerializer(servers, many=True).data)

    @extend_schema(
        request=AdoptSerializer,
        responses={201: OpenApiResponse(description="the adopted resources' ids"), 400: None},
    )
    @action(detail=False, methods=["post"])
    def adopt(self, request: Request) -> Response:
        data = AdoptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = get_object_or_404(
            adoption_projects(user=request.user), pk=data.validated_data["project"]
        )
        adopted = unknown_servers_adopt(
            user=request.user,
            unknown_ids=data.validated_data["objects"],
            project=project,
            observe_only=data.validated_data["observe_only"],
        )
        return Response({"resources": [r.pk for r in adopted]}, status=status.HTTP_201_CREATED)


class ReclaimPreviewView(APIView):
    """A dry run: what the idle and lease policies will notify, stop, retire or delete in the
    next `days` (default 30) in the caller's projects, and what it saves."""

    @extend_schema(
        parameters=[PreviewQuerySerializer], responses=ProjectPreviewSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        query = PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        previews = reclaim_preview_by_project(user=request.user, days=query.validated_data["days"])
        return Response(ProjectPreviewSerializer(previews, many=True).data)
