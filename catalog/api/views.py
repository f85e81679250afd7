from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from catalog.api.serializers import (
    CatalogItemSerializer,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderSerializer,
)
from catalog.models import CatalogItem
from catalog.selectors import catalog_item_list, order_list
from catalog.services import order_submit
from portal.models import AuditEvent, Project


class CatalogItemViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalog items the caller may order."""

    serializer_class = CatalogItemSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return catalog_item_list(user=self.request.user).order_by("category__name", "name")


class OrderViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Orders of the caller's projects. Creating one submits it for approval."""

    filterset_fields = ["status", "project"]

    def get_queryset(self):
        queryset = order_list(user=self.request.user)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                "resources__steps",
                Prefetch("events", queryset=AuditEvent.objects.select_related("actor")),
            )
        return queryset

    def get_serializer_class(self):
        if self.action == "create":
            return OrderCreateSerializer
        return OrderDetailSerializer if self.action == "retrieve" else OrderSerializer

    def get_object(self):
        order = super().get_object()
        order.steps_list = [step for r in order.resources.all() for step in r.steps.all()]
        return order

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderSerializer})
    def create(self, request, *args, **kwargs):
        incoming = OrderCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        # order_submit checks permission and entitlement; here only existence is resolved.
        item = CatalogItem.objects.filter(slug=data["item"], is_active=True).first()
        if item is None:
            raise NotFound({"item": "No such catalog item."})
        project = Project.objects.filter(pk=data["project"]).first()
        if project is None:
            raise NotFound({"project": "No such project."})
        order = order_submit(
            user=request.user, item=item, project=project, parameters=data["parameters"]
        )
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)
