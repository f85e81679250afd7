"""The lease panel of the resource page, the lease column of resource lists, and the savings
panel lifecycle adds to billing's Costs page (billing, below lifecycle, does not import it)."""

from django import template

from lifecycle.models import Lease
from lifecycle.selectors.leases import leases_for_orders
from lifecycle.selectors.reclaim import resource_lifecycle
from lifecycle.selectors.savings import savings

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


@register.inclusion_tag("lifecycle/_savings.html", takes_context=True)
def cost_savings(context, period) -> dict:
    """`{% cost_savings period %}`: what leases and idle reclaim stopped from accruing in the
    period, by cost center (the Costs page)."""
    return {
        **context.flatten(),
        "savings": savings(user=context["request"].user, period=period, group_by="cost_center"),
    }
