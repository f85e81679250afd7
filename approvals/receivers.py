"""Reactions to other apps' lifecycle changes (`core.signals.lifecycle_changed`): the quota
ledger and the requester's notifications follow orders and resources without editing those apps."""

from approvals.services.quota import day2_admit, quota_release
from approvals.services.reactions import approval_order_changed
from provisioning.models import Resource

# A resource in one of these states no longer takes quota ("missing": gone at the provider).
GONE_STATES = {"deleted", "missing"}


def lifecycle_changed_react(sender, *, instance, field, from_state, to_state, **kwargs) -> None:
    if sender._meta.label == "catalog.Order" and field == "status" and from_state != to_state:
        approval_order_changed(order=instance, to_state=to_state)
    elif sender is Resource and field == "state" and to_state in GONE_STATES:
        quota_release(resource=instance)


def capacity_requested_admit(sender, *, user, resource, action, params, **kwargs) -> None:
    """A day-2 change adds capacity: admit it against the quota (raises when it won't fit)."""
    day2_admit(user=user, resource=resource, action=action, params=params)
