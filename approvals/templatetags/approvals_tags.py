from __future__ import annotations

from typing import TYPE_CHECKING

from django import template

from approvals.selectors.policies import approval_summary as summary_for

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order

register = template.Library()


@register.simple_tag
def approval_summary(order: Order) -> dict | None:
    """`{% approval_summary order as summary %}`: the policy, why it applied, and the stages."""
    return summary_for(order=order)
