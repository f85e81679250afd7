"""Chargeback and budgets over the API: the same selectors as the HTML pages."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import (
    BudgetQuerySerializer,
    BudgetStatusSerializer,
    ChargebackPageSerializer,
    ChargebackQuerySerializer,
    ChargebackSerializer,
    UsageExportSerializer,
)
from billing.selectors.budgets import budget_list
from billing.selectors.chargeback import chargeback_report
from billing.selectors.whatif import draft_card_get
from billing.services.exports import usage_export_request
from core.pagination import page_size


class ChargebackView(APIView):
    """Costs of a period grouped by organization, project, cost center, user, catalog item,
    provider, kind or resource; finance sees its organization, managers their projects,
    members their own usage. Narrow with the drill-down parameters (e.g. `project=3`). By
    resource the rows come a page at a time (`page`, `page_size`), by metered cost."""

    showback = False

    @extend_schema(
        parameters=[ChargebackQuerySerializer, ChargebackPageSerializer],
        responses=ChargebackSerializer,
    )
    def get(self, request: Request) -> Response:
        query = ChargebackQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        card_id = params.pop("whatif", None)
        try:
            whatif = draft_card_get(user=request.user, card_id=card_id) if card_id else None
        except ValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        paging = ChargebackPageSerializer(data=request.query_params)
        paging.is_valid(raise_exception=True)
        report = chargeback_report(
            user=request.user,
            showback=self.showback,
            whatif=whatif,
            page=paging.validated_data.get("page"),
            page_size=page_size(request),
            **params,
        )
        return Response(ChargebackSerializer(report).data)


class ShowbackView(ChargebackView):
    """The chargeback figures for every member of a project (`group_by=user` or `project`):
    teams are shown their costs without being charged."""

    showback = True


class UsageExportView(APIView):
    """Ask for every usage hour of a report's scope (the chargeback's parameters) as a CSV:
    written in the background; a notification brings its download link."""

    @extend_schema(
        parameters=[ChargebackQuerySerializer],
        request=None,
        responses={202: UsageExportSerializer},
    )
    def post(self, request: Request) -> Response:
        query = ChargebackQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        export_id = usage_export_request(
            user=request.user,
            period=query.validated_data["period"],
            filters=query.validated_data["filters"],
        )
        data = {
            "id": export_id,
            "status": "being prepared",
            "detail": "The file is written in the background; a notification brings its link.",
        }
        return Response(UsageExportSerializer(data).data, status=status.HTTP_202_ACCEPTED)


class BudgetListView(ListAPIView):
    """Budgets of a month with what was spent and the month-end forecast; finance sees its
    organization's, managers their projects'."""

    serializer_class = BudgetStatusSerializer
    filter_backends = []  # the month is the only parameter: a list of statuses, not a queryset

    @extend_schema(parameters=[BudgetQuerySerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> list:
        query = BudgetQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return budget_list(user=self.request.user, **query.validated_data)
