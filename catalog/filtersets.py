"""The order list's filters, for `/orders/` and `/api/v1/orders/` alike."""

import django_filters

from catalog.models import Order, OrderStatus
from portal.filtersets import ProjectFilter


class OrderFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices, empty_label="All statuses")
    project = ProjectFilter()
    item = django_filters.CharFilter(field_name="item__slug", label="Catalog item")
    cloud_account = django_filters.NumberFilter(field_name="cloud_account", label="Cloud account")

    class Meta:
        model = Order
        fields = ["status", "project", "item", "cloud_account"]
