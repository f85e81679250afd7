"""Reactions to orders and resources changing (`core.signals.lifecycle_changed`): a completed
order gets its lease, a resource running again ends what its stop saved, and an order whose
resources are all gone ends its lease."""

from catalog.models import Order
from lifecycle.services.leases import GONE, lease_order_changed, lease_resource_gone
from lifecycle.services.savings import savings_resource_running
from provisioning.models import Resource, ResourceState


def lifecycle_changed_react(sender, *, instance, field, from_state, to_state, **kwargs) -> None:
    if from_state == to_state:
        return
    if sender is Order and field == "status":
        lease_order_changed(order=instance, to_state=to_state)
    elif sender is Resource and field == "state":
        # A resource just created has no stop to end: no query on the saga's busiest path.
        if to_state == ResourceState.ACTIVE and from_state != ResourceState.PROVISIONING:
            savings_resource_running(resource=instance)
        elif to_state in GONE:
            lease_resource_gone(resource=instance)
