from django import template

from autoscaling.selectors import group_scaling

register = template.Library()


@register.simple_tag(takes_context=True)
def scaling_panel(context, group) -> dict:
    """`{% scaling_panel resource as scaling %}`: the group's policies, schedules, activity and
    load for the signed-in user."""
    return group_scaling(user=context["request"].user, group=group)
