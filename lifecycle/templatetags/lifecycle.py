"""The lease panel of the resource page and the lease column of resource lists."""

from django import template

from lifecycle.models import Lease
from lifecycle.selectors import leases_for_orders, resource_lifecycle

register = template.Library()


@register.inclusion_tag("lifecycle/_resource_lease.html", takes_context=True)
def resource_lease(context, resource) -> dict:
    """`{% resource_lease resource %}`: lease, keep mark and reclaim case, with their buttons."""
    request = context["request"]
    return {
        **resource_lifecycle(user=request.user, resource=resource),
        "next": request.get_full_path(),
        "csrf_token": context.get("csrf_token"),
    }


@register.simple_tag
def leases_by_order(resources) -> dict[int, Lease]:
    """`{% leases_by_order resources as leases %}`: one query for a whole list."""
    return leases_for_orders(order_ids=list({r.order_id for r in resources}))


@register.filter
def lease_for(leases: dict[int, Lease], order_id: int) -> Lease | None:
    return leases.get(order_id)
