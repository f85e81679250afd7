"""What billing's tests (and other apps' tests that meter) build resources and events with."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.models import Usage
from catalog.models import Order
from provisioning.models import CloudAccount, Resource, ResourceEvent

T0 = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # a Monday 10:00 UTC in a month long gone


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def make_resource(
    demo, *, kind="server", user="alice", project="web_shop", parent=None, **properties
):
    """A resource of `user`'s order in `project` (web-shop), with no events yet."""
    order = parent.order if parent else None
    order = order or Order.objects.create(
        item=demo["linux_vm"],
        project=demo[project],
        requester=demo[user],
        parameters={"name": "web-1", "size": "small"},
    )
    return Resource.objects.create(
        order=order,
        project=demo[project],
        cloud_account=CloudAccount.objects.get(name="sandbox"),
        parent=parent,
        kind=kind,
        name=f"{kind}-{Resource.objects.count() + 1}",
        properties=properties,
    )


def event(resource, kind, when, *, size="", quantity=Decimal("1")):
    return ResourceEvent.objects.create(
        resource=resource, kind=kind, at=when, size=size, quantity=quantity
    )


def usage_of(resource) -> dict[datetime, Decimal]:
    return dict(Usage.objects.filter(resource=resource).values_list("hour", "cost"))
