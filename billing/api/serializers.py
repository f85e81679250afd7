"""The chargeback query (shared by the API and the HTML report) and the report's shape."""

from django.core.exceptions import ValidationError
from rest_framework import serializers

from billing.models import Budget
from billing.selectors.access import GROUPS
from billing.selectors.periods import period_parse
from core.models import Organization, Project
from core.pagination import MAX_PAGE_SIZE

MAX_ID = 2**63 - 1  # a database id is a bigint


def _month_field(help_text: str) -> serializers.RegexField:
    """An optional `period` parameter: a month as YYYY-MM."""
    return serializers.RegexField(
        r"^\d{4}-(0[1-9]|1[0-2])$",
        required=False,
        help_text=help_text,
        error_messages={"invalid": "Use a month as YYYY-MM, e.g. 2026-11."},
    )


class QueryParameters(serializers.Serializer):
    """Query parameters of one value each: `project[id]=3` is a malformed `project`, not an
    unknown parameter to skip (as on every list's filters)."""

    def to_internal_value(self, data):
        nested = {key.split("[", 1)[0] for key in data if "[" in key} & set(self.fields)
        if nested:
            raise serializers.ValidationError({name: ["Give one value."] for name in nested})
        return super().to_internal_value(data)


class ChargebackQuerySerializer(QueryParameters):
    """A period (a month, or start and end days) and a grouping, narrowed by drill-down keys."""

    period = _month_field("A month, YYYY-MM; the current month when neither period nor start/end.")
    start = serializers.DateField(required=False, help_text="First day of a range (inclusive).")
    end = serializers.DateField(required=False, help_text="Last day of a range (inclusive).")
    group_by = serializers.ChoiceField(choices=list(GROUPS), default="project")
    organization = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    project = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    cost_center = serializers.CharField(required=False, max_length=40)
    user = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    catalog_item = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    provider = serializers.CharField(required=False, max_length=16)
    kind = serializers.CharField(required=False, max_length=32)
    resource = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    whatif = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="A draft rate card's id: also re-price the period's usage under it (what-if; "
        "nothing is written).",
    )

    def validate(self, attrs: dict) -> dict:
        try:
            attrs["period"] = period_parse(
                period=attrs.get("period"),
                start=attrs.pop("start", None),
                end=attrs.pop("end", None),
            )
        except ValidationError as error:
            raise serializers.ValidationError(error.message_dict) from error
        attrs["filters"] = {group: attrs.pop(group) for group in GROUPS if group in attrs}
        return attrs


class ChargebackPageSerializer(QueryParameters):
    """Which page of a report by resource (the other groupings come whole)."""

    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    page_size = serializers.IntegerField(
        required=False, min_value=1, help_text=f"rows per page, at most {MAX_PAGE_SIZE}"
    )


class UsageExportSerializer(serializers.Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    detail = serializers.CharField()


def _money(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=16, decimal_places=2, help_text=help_text)


class ChargebackRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    cost = _money("metered")
    whatif_cost = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        allow_null=True,
        help_text="the metered usage re-priced under the `whatif` draft card (null without one)",
    )
    accrued = _money(
        "accrued since the last metered hour by what runs now: an estimate until metered "
        "(0 unless the period includes now)"
    )
    cost_with_accrued = _money("cost + accrued: the period to date")
    run_rate = _money("what the group runs now costs a month (730 hours)")
    unpriced = serializers.IntegerField(
        help_text="usage rows and live resources no rate card prices (counted at 0)"
    )
    quantity = serializers.DecimalField(
        max_digits=16, decimal_places=6, help_text="resource-hours billed"
    )
    running_hours = serializers.DecimalField(max_digits=16, decimal_places=6)


class ChargebackSerializer(serializers.Serializer):
    period = serializers.CharField(source="period.label")
    start = serializers.DateTimeField(source="period.start")
    end = serializers.DateTimeField(source="period.end", help_text="exclusive")
    group_by = serializers.CharField()
    currency = serializers.CharField()
    total = _money("metered")
    accrued = _money("accrued since the last metered hour: an estimate until metered")
    total_with_accrued = _money("total + accrued: the period to date")
    run_rate = _money("what runs now costs a month")
    includes_now = serializers.BooleanField(
        help_text="the period includes now: `accrued` figures are estimates until metered"
    )
    unpriced = serializers.IntegerField()
    whatif_card = serializers.CharField(source="whatif_card.name", allow_null=True, default=None)
    whatif_total = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    rows = ChargebackRowSerializer(many=True)
    count = serializers.IntegerField(help_text="rows in the whole report (all pages)")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    drill_down = serializers.CharField(
        allow_null=True,
        help_text="The group_by that details a row: ask again with <group_by>=<row key> added; "
        "a resource row's events are at /costs/resources/<key>/.",
    )


class BudgetQuerySerializer(serializers.Serializer):
    period = _month_field("A month, YYYY-MM; the current month by default.")

    def validate(self, attrs: dict) -> dict:
        return {"month": period_parse(period=attrs.get("period")).start.date()}


class BudgetStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="budget.pk")
    label = serializers.CharField(source="budget.label")
    organization = serializers.CharField(source="budget.organization.slug")
    project = serializers.IntegerField(source="budget.project_id", allow_null=True)
    cost_center = serializers.CharField(source="budget.cost_center")
    month = serializers.DateField()
    monthly_amount = serializers.DecimalField(
        source="budget.monthly_amount", max_digits=14, decimal_places=2
    )
    spent = _money("metered")
    accrued = _money("accrued since the last metered hour: an estimate until metered")
    spent_with_accrued = _money("spent + accrued")
    percent = serializers.IntegerField(help_text="spent + accrued, in % of the budget")
    monthly_run_rate = _money("what runs now in the budget's scope costs a month")
    trend = _money(
        "the growth of the last two weeks' daily cost carried on to the month end (0 without "
        "two full weeks of history, or when the cost did not grow)"
    )
    forecast = _money("month end: spent + accrued + what runs now for the hours left + trend")
    forecast_percent = serializers.IntegerField()
    currency = serializers.CharField()
    refuse_orders_over_budget = serializers.BooleanField(source="budget.refuse_orders_over_budget")


class BudgetSerializer(serializers.ModelSerializer):
    """A budget as finance sets it: for a project, or for a cost center of an organization
    (`organization` by slug; for a project's budget it is the project's)."""

    organization = serializers.SlugRelatedField(
        slug_field="slug", queryset=Organization.objects.all(), required=False
    )
    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Budget
        fields = [
            "organization",
            "project",
            "cost_center",
            "monthly_amount",
            "refuse_orders_over_budget",
        ]
        extra_kwargs = {
            "monthly_amount": {"min_value": 0, "max_value": 10**12 - 1},
            # The service checks the one-budget-per-project/cost-center rules, readably.
            "cost_center": {"validators": []},
        }
        validators = []

    def validate(self, attrs: dict) -> dict:
        if self.instance is not None:
            attrs.pop("organization", None)  # a budget stays in its organization
            return attrs
        project = attrs.get("project")
        if project is not None:
            attrs["organization"] = project.organization
        elif "organization" not in attrs:
            raise serializers.ValidationError(
                {"organization": ["Give the organization of a cost center's budget."]}
            )
        return attrs
