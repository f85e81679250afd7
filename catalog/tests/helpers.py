"""Catalog's test helpers: an item of the default catalog, and what approval does next."""

import yaml

from catalog.models import CatalogItem, Order
from catalog.services import DEFAULT_CATALOG, catalog_load
from provisioning.tests.helpers import deployed


def default_item(slug: str) -> CatalogItem:
    """An item of the default catalog (catalog/default_catalog.yaml) as `catalog_load` loads it,
    open to every project (its entitlements name the demo's projects)."""
    document = yaml.safe_load(DEFAULT_CATALOG.read_text())
    [item] = [item for item in document["items"] if item["slug"] == slug]
    item.pop("entitlements", None)
    catalog_load(document={"categories": document["categories"], "items": [item]})
    return CatalogItem.objects.get(slug=slug)


def approved_and_built(order: Order) -> Order:
    """What approval does next (the approvals app's concern): build it."""
    Order.objects.filter(pk=order.pk).update(status="approved")
    order.refresh_from_db()
    return deployed(order)
