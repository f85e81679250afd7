"""The resource list's filters, for `/resources/` and `/api/v1/resources/` alike."""

import django_filters

from core.filtersets import ProjectFilter
from provisioning.models import Resource, ResourceState

KIND_LABELS = [
    ("server", "Server"),
    ("volume", "Volume"),
    ("network", "Network"),
    ("load_balancer", "Load balancer"),
    ("dns_record", "DNS record"),
    ("database", "Database"),
    ("autoscaling_group", "Autoscaling group"),
]


class ResourceFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")
    project = ProjectFilter()
    kind = django_filters.ChoiceFilter(choices=KIND_LABELS, empty_label="All kinds")
    state = django_filters.ChoiceFilter(choices=ResourceState.choices, empty_label="All states")
    # A number, not a choice: a drop-down of every order would list the whole estate.
    order = django_filters.NumberFilter(field_name="order", label="Order #")

    class Meta:
        model = Resource
        fields = ["q", "project", "kind", "state", "order"]
