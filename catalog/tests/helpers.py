"""Catalog's test helpers: an item shaped like the default catalog's linux-vm (a server whose
image is a parameter, so a snapshot can be ordered again), and what approval does next."""

from catalog.models import CatalogItem, Order
from catalog.tests.factories import CatalogItemFactory
from provisioning.tests.helpers import deployed

# linux-vm's form and template (catalog/default_catalog.yaml), the parts a restore orders again.
LINUX_VM_PARAMETERS = {
    "type": "object",
    "required": ["name", "size"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "title": "Server name", "pattern": "^[a-z][a-z0-9-]{1,30}$"},
        "size": {"type": "string", "title": "Size", "x-options": "sizes"},
        "image": {"type": "string", "title": "Image", "x-options": "images", "x-os": "linux"},
        "location": {"type": "string", "title": "Location", "x-options": "locations"},
        "ssh_key": {"type": "string", "title": "SSH public key"},
    },
}
LINUX_VM_RESOURCES = [
    {
        "key": "vm",
        "kind": "server",
        "name": "{name}",
        "properties": {
            "size": "{size}",
            "image": "{image}",
            "location": "{location}",
            "ssh_key": "{ssh_key}",
        },
    }
]


def linux_vm_item() -> CatalogItem:
    return CatalogItemFactory(parameters=LINUX_VM_PARAMETERS, resources=LINUX_VM_RESOURCES)


def approved_and_built(order: Order) -> Order:
    """What approval does next (the approvals app's concern): build it."""
    Order.objects.filter(pk=order.pk).update(status="approved")
    order.refresh_from_db()
    return deployed(order)
