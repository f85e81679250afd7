"""The budget list's filters, for `/api/v1/budgets/` (the Budgets page lists them all)."""

import django_filters

from billing.models import Budget
from core.filtersets import ProjectFilter


class BudgetFilterSet(django_filters.FilterSet):
    organization = django_filters.CharFilter(
        field_name="organization__slug", label="Organization (slug)"
    )
    project = ProjectFilter()
    cost_center = django_filters.CharFilter(label="Cost center")
    refuse_orders_over_budget = django_filters.BooleanFilter(label="Refuses orders over it")

    class Meta:
        model = Budget
        fields = ["organization", "project", "cost_center", "refuse_orders_over_budget"]
