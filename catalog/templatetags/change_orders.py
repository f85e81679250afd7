"""The resource page's panel of changes ordered for it and not finished yet."""

from django import template

from catalog.selectors.orders import open_changes_of

register = template.Library()


@register.inclusion_tag("catalog/_pending_changes.html")
def pending_changes(resource) -> dict:
    """`{% pending_changes resource %}`: the open change orders of the resource or its order."""
    return {"changes": open_changes_of(resource=resource)}
