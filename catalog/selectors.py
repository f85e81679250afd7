"""Reads for the catalog and orders: entitlements and project permissions applied here."""

from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet

from billing.pricing import monthly_quote
from catalog.models import CatalogItem, Order
from portal.models import Project
from portal.selectors import project_ids
from provisioning.models import CloudAccount


def catalog_item_list(*, user: AbstractUser) -> QuerySet[CatalogItem]:
    """Active items the user may order in at least one of their projects."""
    orderable = project_ids(user=user, perm="order_in_project")
    return (
        CatalogItem.objects.filter(is_active=True)
        .filter(Q(projects__isnull=True) | Q(projects__in=orderable))
        .select_related("category")
        .distinct()
    )


def item_offered_to_project(*, item: CatalogItem, project: Project) -> bool:
    """Entitlements: an item lists the projects it is offered to, or none for all of them."""
    if not item.is_active:
        return False
    return not item.projects.exists() or item.projects.filter(pk=project.pk).exists()


def order_list(*, user: AbstractUser) -> QuerySet[Order]:
    """Orders of the projects the user can see, plus the user's own."""
    if not user.is_authenticated:
        return Order.objects.none()
    return Order.objects.filter(
        Q(project__in=project_ids(user=user, perm="view_project")) | Q(requester=user)
    ).select_related("item", "project", "requester")


def item_price_from(*, item: CatalogItem) -> Decimal:
    """The monthly price with every choice at its first (smallest) option."""
    properties = item.parameters.get("properties", {})
    defaults = {
        name: spec["oneOf"][0]["const"] if "oneOf" in spec else spec.get("default")
        for name, spec in properties.items()
    }
    account = CloudAccount.objects.order_by("id").first()
    return monthly_quote(
        cloud_account_id=account.pk if account else None,
        resources=resolve_resources(item=item, parameters=defaults),
    )


def resolve_resources(*, item: CatalogItem, parameters: dict) -> list[dict]:
    """The item's resource template with "{param}" values bound to the order's parameters."""

    def bind(value: object) -> object:
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            return parameters.get(value[1:-1])
        return value

    return [
        {
            "kind": spec["kind"],
            "name": bind(spec.get("name", spec["kind"])),
            "properties": {key: bind(val) for key, val in spec.get("properties", {}).items()},
        }
        for spec in item.resources
    ]
