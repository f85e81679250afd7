"""The order list's filters, for `/orders/` and `/api/v1/orders/` alike."""

import django_filters

from catalog.models import Order, OrderKind, OrderStatus
from core.filtersets import ProjectFilter


class OrderFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices, empty_label="All statuses")
    kind = django_filters.ChoiceFilter(choices=OrderKind.choices, empty_label="All kinds")
    project = ProjectFilter()
    item = django_filters.CharFilter(field_name="item__slug", label="Catalog item")
    cloud_account = django_filters.NumberFilter(field_name="cloud_account", label="Cloud account")

    class Meta:
        model = Order
        fields = ["status", "kind", "project", "item", "cloud_account"]
