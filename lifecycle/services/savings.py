"""Savings: what leases and idle reclaim stop costing, recorded as they act."""

from datetime import datetime

from django.utils import timezone

from billing.pricing import PriceBook
from lifecycle.models import Saving
from lifecycle.selectors.preview import hourly_saving
from provisioning.models import Resource
from provisioning.providers.base import KINDS


def savings_start(*, resources: list[Resource], source: str, action: str, now: datetime) -> None:
    """Record what `resources` stop costing per hour from now, priced by billing's engine (one
    price book for them all): a stop saves the running price less what a stopped server still
    pays (its disk), a delete whatever each cost in the state it was in."""
    # Composites are metered through their servers.
    resources = [resource for resource in resources if resource.kind in KINDS]
    if not resources:
        return
    book = PriceBook({resource.cloud_account_id for resource in resources})
    savings = []
    for resource in resources:
        hourly = hourly_saving(book=book, resource=resource, action=action, on=now.date())
        if hourly > 0:
            savings.append(
                Saving(
                    resource=resource,
                    project=resource.project,
                    cost_center=resource.project.cost_center,
                    source=source,
                    action=action,
                    hourly=hourly,
                    started_at=now,
                )
            )
    Saving.objects.bulk_create(savings)


def savings_resource_running(*, resource: Resource, now: datetime | None = None) -> int:
    """The resource runs again (started by anyone): what its stop saved ends now."""
    return Saving.objects.filter(
        resource=resource, action=Saving.Action.STOP, ended_at__isnull=True
    ).update(ended_at=now or timezone.now())
