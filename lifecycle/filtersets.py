"""The lease list's filters, for the Leases page and `/api/v1/leases/` alike."""

import django_filters

from core.filtersets import ProjectFilter
from lifecycle.models import Lease, LeaseState


class LeaseFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=LeaseState.choices, empty_label="All states")
    project = ProjectFilter(field_name="order__project")
    order = django_filters.NumberFilter(field_name="order", label="Order #")

    class Meta:
        model = Lease
        fields = ["state", "project", "order"]
