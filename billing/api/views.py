"""Chargeback and budgets over the API: the same selectors as the HTML pages."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.serializers import (
    BudgetQuerySerializer,
    BudgetStatusSerializer,
    ChargebackQuerySerializer,
    ChargebackSerializer,
)
from billing.selectors import budget_list, chargeback_report, draft_card_get


class ChargebackView(APIView):
    """Costs of a period grouped by organization, project, cost center, user, catalog item,
    provider, kind or resource; finance sees its organization, managers their projects,
    members their own usage. Narrow with the drill-down parameters (e.g. `project=3`)."""

    showback = False

    @extend_schema(parameters=[ChargebackQuerySerializer], responses=ChargebackSerializer)
    def get(self, request: Request) -> Response:
        query = ChargebackQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        card_id = params.pop("whatif", None)
        try:
            whatif = draft_card_get(user=request.user, card_id=card_id) if card_id else None
        except ValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        report = chargeback_report(
            user=request.user, showback=self.showback, whatif=whatif, **params
        )
        return Response(ChargebackSerializer(report).data)


class ShowbackView(ChargebackView):
    """The chargeback figures for every member of a project (`group_by=user` or `project`):
    teams are shown their costs without being charged."""

    showback = True


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
