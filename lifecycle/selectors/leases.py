"""Leases: their limits, the leases and lease extension orders a user sees."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet

from catalog.models import ChangeAction, Order
from catalog.selectors.orders import order_list
from core.selectors import project_ids
from lifecycle.models import Lease

# Days before a lease's expiry its requester is warned.
WARNING_DAYS = (7, 1)


# Leases expiring within this are "expiring soon" (the first warning goes out then).
SOON = timedelta(days=7)


def lease_limit(*, lease: Lease) -> datetime | None:
    """The latest expiry people may choose themselves: the item's maximum from the start."""
    days = lease.order.item.lease_max_days
    return None if days is None else lease.starts_at + timedelta(days=days)


def lease_list(*, user: AbstractUser) -> QuerySet[Lease]:
    return Lease.objects.filter(
        order__project__in=project_ids(user=user, perm="view_project")
    ).select_related("order__item", "order__project", "order__requester")


def lease_extension_orders(*, user: AbstractUser) -> QuerySet[Order]:
    """Lease extensions beyond the maximum (change orders) in the projects the user sees."""
    return order_list(user=user).filter(action=ChangeAction.EXTEND_LEASE)


def leases_for_orders(*, order_ids: list[int]) -> dict[int, Lease]:
    """Leases by order id, in one query (for lists of resources the caller already filtered)."""
    return {lease.order_id: lease for lease in Lease.objects.filter(order_id__in=order_ids)}
