"""Chargeback and budgets over the API: the same selectors and services as the HTML pages."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import (
    BudgetQuerySerializer,
    BudgetSerializer,
    BudgetStatusSerializer,
    ChargebackPageSerializer,
    ChargebackQuerySerializer,
    ChargebackSerializer,
    UsageExportSerializer,
)
from billing.filtersets import BudgetFilterSet
from billing.models import Budget
from billing.selectors.budgets import BUDGET_ORDER, BudgetStatus, budget_statuses, budget_visible
from billing.selectors.chargeback import chargeback_report
from billing.selectors.whatif import draft_card_get
from billing.services.budgets import budget_delete, budget_save
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
        asked_page = paging.validated_data.get("page")
        report = chargeback_report(
            user=request.user,
            showback=self.showback,
            whatif=whatif,
            page=asked_page,
            page_size=page_size(request),
            **params,
        )
        if asked_page and asked_page > report.pages:  # as every list: past the last is a 400
            raise serializers.ValidationError(
                {"page": [f"Page {asked_page} is not valid: the report has {report.pages}."]}
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


@extend_schema_view(
    list=extend_schema(parameters=[BudgetQuerySerializer]),
    retrieve=extend_schema(parameters=[BudgetQuerySerializer]),
    create=extend_schema(request=BudgetSerializer, responses={201: BudgetStatusSerializer}),
    update=extend_schema(request=BudgetSerializer, responses=BudgetStatusSerializer),
    partial_update=extend_schema(request=BudgetSerializer, responses=BudgetStatusSerializer),
)
class BudgetViewSet(viewsets.ModelViewSet):
    """Monthly budgets with what was spent in the month (`period`, this month by default) and
    the month-end forecast. Members read their projects' budgets, finance and organization
    admins also the cost centers' and set them all (a budget of a project, or of a cost center
    of an organization given by slug)."""

    serializer_class = BudgetStatusSerializer
    filterset_class = BudgetFilterSet

    def get_queryset(self) -> QuerySet[Budget]:
        return budget_visible(user=self.request.user)

    def _statuses(self, budgets: list[Budget]) -> list[BudgetStatus]:
        """The month's figures of these budgets (one computation for a whole page)."""
        query = BudgetQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return budget_statuses(
            budgets=Budget.objects.filter(pk__in=[budget.pk for budget in budgets]).order_by(
                *BUDGET_ORDER
            ),
            **query.validated_data,
        )

    def _answer(self, budget: Budget, status_code: int = 200) -> Response:
        (budget_status,) = self._statuses([budget])
        return Response(BudgetStatusSerializer(budget_status).data, status=status_code)

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            BudgetStatusSerializer(self._statuses(page), many=True).data
        )

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return self._answer(self.get_object())

    def create(self, request: Request, *args, **kwargs) -> Response:
        incoming = BudgetSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        organization = data.pop("organization")
        budget = budget_save(user=request.user, organization_id=organization.pk, data=data)
        return self._answer(budget, status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        budget = self.get_object()
        incoming = BudgetSerializer(budget, data=request.data, partial=kwargs.get("partial", False))
        incoming.is_valid(raise_exception=True)
        budget = budget_save(
            user=request.user,
            budget=budget,
            organization_id=budget.organization_id,
            data=dict(incoming.validated_data),
        )
        return self._answer(budget)

    def perform_destroy(self, instance: Budget) -> None:
        budget_delete(user=self.request.user, budget=instance)
