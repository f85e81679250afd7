"""Orders a person may read, and the changes still open on a resource."""

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet

from catalog.models import Order, OrderStatus
from core.selectors import project_ids
from provisioning.models import Resource


def order_list(*, user: AbstractUser) -> QuerySet[Order]:
    """Orders of the projects the user can see, plus the user's own."""
    if not user.is_authenticated:
        return Order.objects.none()
    return Order.objects.filter(
        Q(project__in=project_ids(user=user, perm="view_project")) | Q(requester=user)
    ).select_related("item", "project", "requester", "cloud_account", "resource")


# A change order in one of these is still to run or running.
OPEN_STATUSES = [
    OrderStatus.SUBMITTED,
    OrderStatus.PENDING_APPROVAL,
    OrderStatus.APPROVED,
    OrderStatus.PROVISIONING,
]


def open_changes_of(*, resource: Resource) -> list[Order]:
    """The change orders of the resource, and the whole-order ones of its order (a destroy,
    a lease extension), that are not finished."""
    return list(
        Order.objects.filter(changes_order=resource.order_id, status__in=OPEN_STATUSES)
        .filter(Q(resource=resource) | Q(resource=None))
        .select_related("item", "resource")
        .order_by("id")
    )
