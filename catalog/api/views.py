from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

import provisioning.selectors as provisioning_selectors
from catalog.api.serializers import (
    CatalogItemSerializer,
    ChangeQuoteRequestSerializer,
    ChangeQuoteSerializer,
    ItemOptionsSerializer,
    OrderCreateSerializer,
    OrderDetailSerializer,
    OrderSerializer,
    QuoteSerializer,
    ResourceActionSerializer,
)
from catalog.filtersets import OrderFilterSet
from catalog.models import ChangeAction, Order
from catalog.orders import order_cancel
from catalog.selectors.menu import (
    catalog_item_list,
    cloud_accounts_for_item,
    orderable_item,
    parameter_choices,
    pricing_accounts,
    projects_for_item,
)
from catalog.selectors.ordering import chosen_or_first, order_plan, order_project, order_quote
from catalog.selectors.orders import order_list
from catalog.services import (
    change_order_submit,
    change_plan,
    order_from_snapshot,
    order_submit,
    resource_action,
)
from core.models import AuditEvent
from provisioning.api.serializers import StepSerializer
from provisioning.services.accounts import account_options_request


class CatalogItemViewSet(viewsets.ReadOnlyModelViewSet):
    """The catalog items the caller may order."""

    serializer_class = CatalogItemSerializer
    lookup_field = "slug"

    def get_queryset(self):
        return catalog_item_list(user=self.request.user).order_by("category__name", "name")

    def get_serializer_context(self) -> dict:
        # Every item's "from" price picks among the same accounts: load them once per request.
        return {**super().get_serializer_context(), "pricing_accounts": pricing_accounts()}

    @extend_schema(
        parameters=[
            OpenApiParameter("project", int, description="default: the caller's first project"),
            OpenApiParameter("cloud_account", int, description="default: the first offering one"),
        ],
        responses={200: ItemOptionsSerializer},
    )
    # Not named `options`: that is the view's handler of the HTTP OPTIONS method.
    @action(detail=True, methods=["get"], url_path="options")
    def order_options(self, request, slug=None):
        """The dependent choices of the order form: the accounts offering the item to the
        project, and the chosen account's sizes, images and locations."""
        item = self.get_object()
        projects = projects_for_item(user=request.user, item=item)
        project = chosen_or_first(
            projects, chosen=request.query_params.get("project"), field="project"
        )
        if project is None:
            raise ValidationError({"project": ["You may not order this item in any project."]})
        accounts = cloud_accounts_for_item(item=item, project=project)
        account = chosen_or_first(
            accounts, chosen=request.query_params.get("cloud_account"), field="cloud_account"
        )
        if account:
            account_options_request(account=account)
        choices = parameter_choices(item=item, account=account) if account else {}
        return Response(
            ItemOptionsSerializer(
                {
                    "project": project.pk,
                    "cloud_accounts": [{"id": a.pk, "name": a.name} for a in accounts],
                    "cloud_account": account.pk if account else None,
                    "parameters": {
                        name: [{"id": i, "label": label} for i, label in offered]
                        for name, offered in choices.items()
                    },
                }
            ).data
        )


# DRF builds a ModelSerializer's fields again for every instance it wraps; the answer to each
# order request is drawn by this one, whose fields are built once (to_representation keeps no
# state between calls).
_SUBMITTED_ORDER = OrderSerializer()


class OrderViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Orders of the caller's projects. Creating one submits it: the answer says `submitted`
    (or 400 with the reason when it does not fit a quota or a refusing budget), and a worker
    then admits it to `pending_approval` (or `approved`, or `rejected` with the reason)."""

    filterset_class = OrderFilterSet

    def get_queryset(self):
        queryset = order_list(user=self.request.user)
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                "resources",
                Prefetch("events", queryset=AuditEvent.objects.select_related("actor")),
            )
        return queryset

    def get_serializer_class(self):
        if self.action in ("create", "quote"):
            return OrderCreateSerializer
        return OrderDetailSerializer if self.action == "retrieve" else OrderSerializer

    def retrieve(self, request, *args, **kwargs):
        order = self.get_object()
        steps = provisioning_selectors.deployment_steps(order=order)
        context = {**self.get_serializer_context(), "steps": steps}
        return Response(OrderDetailSerializer(order, context=context).data)

    def _incoming(self, request) -> dict:
        """The order body with its item and project looked up (permissions come later)."""
        incoming = OrderCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        item = orderable_item(slug=data["item"])
        if item is None:
            raise NotFound({"item": "No such catalog item."})
        project = order_project(pk=data["project"])
        if project is None:
            raise NotFound({"project": "No such project."})
        return {"item": item, "project": project, "parameters": data["parameters"]}

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderSerializer})
    def create(self, request, *args, **kwargs):
        order = order_submit(user=request.user, **self._incoming(request))
        return Response(_SUBMITTED_ORDER.to_representation(order), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="QuoteRequest",
            serializers=[OrderCreateSerializer, ChangeQuoteRequestSerializer],
            resource_type_field_name=None,
        ),
        responses={
            200: PolymorphicProxySerializer(
                component_name="QuoteOrChangeQuote",
                serializers=[QuoteSerializer, ChangeQuoteSerializer],
                resource_type_field_name=None,
            )
        },
        description="A body with `action` (and `resource`, or `order` for a whole-order "
        "destroy, plus the action's parameters) prices a change instead: its cost afterwards, "
        "the monthly delta, the quota effect and who would approve it (ChangeQuote).",
    )
    @action(detail=False, methods=["post"])
    def quote(self, request):
        """What the order would cost per month and do to the project's quotas; checks the
        body exactly as creating the order would, without submitting anything."""
        if isinstance(request.data, dict) and "action" in request.data:
            return self._change_quote(request)
        plan = order_plan(user=request.user, **self._incoming(request))
        quote = order_quote(
            project=plan.project,
            cloud_account=plan.cloud_account,
            resources=plan.resources,
            monthly_cost=plan.estimated_monthly_cost,
        )
        return Response(
            QuoteSerializer(
                {
                    "cloud_account": plan.cloud_account.pk,
                    "estimated_monthly_cost": quote.estimated_monthly_cost,
                    "quota": quote.quota,
                }
            ).data
        )

    def _change_quote(self, request) -> Response:
        incoming = ChangeQuoteRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        params = dict(incoming.validated_data)
        resource_id, order_id = params.pop("resource", None), params.pop("order", None)
        resource = order = None
        if resource_id is not None:
            resource = get_object_or_404(
                provisioning_selectors.resource_list(user=request.user), pk=resource_id
            )
        else:
            order = get_object_or_404(order_list(user=request.user), pk=order_id)
        plan = change_plan(
            user=request.user,
            action=params.pop("action"),
            params=params,
            resource=resource,
            order=order,
        )
        change = plan.order
        return Response(
            ChangeQuoteSerializer(
                {
                    "kind": change.kind,
                    "summary": change.summary,
                    "estimated_monthly_cost": change.estimated_monthly_cost,
                    "monthly_cost_delta": change.monthly_cost_delta,
                    "quota": plan.quota,
                    "approval": plan.approval,
                }
            ).data
        )

    @extend_schema(request=None, responses={200: OrderSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """The requester withdraws an order that has not started provisioning."""
        order = order_cancel(user=request.user, order_id=super().get_object().pk)
        return Response(OrderSerializer(order).data)


class ResourceActionView(APIView):
    """A day-2 action on a resource: a change of cost or capacity (resize, extend, set_desired)
    or a destroy answers 202 with the change order it became, which is priced, admitted and
    approved like any order before anything changes; start, stop, reboot and snapshot answer
    200 with the step that runs at once."""

    @extend_schema(
        request=ResourceActionSerializer,
        responses={
            202: OpenApiResponse(OrderSerializer, description="the change order"),
            200: OpenApiResponse(StepSerializer, description="the step running now"),
        },
    )
    def post(self, request, pk: int):
        resource = get_object_or_404(provisioning_selectors.resource_list(user=request.user), pk=pk)
        incoming = ResourceActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        params = dict(incoming.validated_data)
        result = resource_action(
            user=request.user, resource_id=resource.pk, action=params.pop("action"), params=params
        )
        if isinstance(result, Order):
            return Response(OrderSerializer(result).data, status=status.HTTP_202_ACCEPTED)
        return Response(StepSerializer(result).data, status=status.HTTP_200_OK)


class OrderDestroyView(APIView):
    """Delete every resource of an order: a destroy order, approved like any order, then the
    provisioning saga in reverse."""

    @extend_schema(request=None, responses={202: OrderSerializer})
    def post(self, request, pk: int):
        order = get_object_or_404(order_list(user=request.user), pk=pk)
        change = change_order_submit(
            user=request.user, action=ChangeAction.DESTROY, params={}, order_id=order.pk
        )
        return Response(OrderSerializer(change).data, status=status.HTTP_202_ACCEPTED)


class RestoreSerializer(serializers.Serializer):
    snapshot = serializers.CharField(help_text="One of the server's attributes.snapshots.")
    name = serializers.RegexField(
        r"^[a-z][a-z0-9-]{1,40}$", help_text="The new server's name (lower case, digits, -)."
    )


class SnapshotRestoreView(APIView):
    """Order a new server from one of a server's snapshots (an ordinary order of its item)."""

    @extend_schema(request=RestoreSerializer, responses={201: OrderSerializer})
    def post(self, request, pk: int):
        resource = get_object_or_404(provisioning_selectors.resource_list(user=request.user), pk=pk)
        incoming = RestoreSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = order_from_snapshot(user=request.user, resource=resource, **incoming.validated_data)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)
