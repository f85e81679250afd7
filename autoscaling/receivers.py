"""Reactions to provisioning's lifecycle changes (`core.signals.lifecycle_changed`)."""

from django.db import transaction

from autoscaling import services
from autoscaling.selectors import GROUP_KIND
from provisioning.models import Resource, ResourceState


def lifecycle_changed_react(sender, *, instance, field, from_state, to_state, **kwargs) -> None:
    """A group leaving `updating` ended a scaling saga: close its activity once the saga's last
    step is recorded (after the commit), rather than at the next evaluation."""
    if (
        sender is Resource
        and field == "state"
        and instance.kind == GROUP_KIND
        and from_state == ResourceState.UPDATING
        and to_state != from_state
    ):
        group_id = instance.pk
        transaction.on_commit(lambda: services.activities_settle(group_id=group_id))
