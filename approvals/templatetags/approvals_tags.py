from django import template

from approvals.selectors import approval_summary as summary_for
from catalog.models import Order

register = template.Library()


@register.simple_tag
def approval_summary(order: Order) -> dict | None:
    """`{% approval_summary order as summary %}`: the policy, why it applied, and the stages."""
    return summary_for(order=order)
