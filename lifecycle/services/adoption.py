"""Brownfield adoption: servers launched outside Canopy become resources of a
project."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

import provisioning.selectors as provisioning_selectors
import provisioning.services as provisioning_services
from approvals.services.quota import quota_commit_adopted
from billing.pricing import monthly_quote
from catalog.orders import order_completed
from catalog.services import order_adopted
from core.models import Project
from provisioning.models import Resource, UnknownObject


@transaction.atomic
def unknown_servers_adopt(
    *, user: AbstractUser, unknown_ids: list[int], project: Project, observe_only: bool = False
) -> list[Resource]:
    """An organization admin adopts servers launched outside Canopy into one of its projects:
    one completed order per cloud account, its servers resources billed from now on, their
    quota committed; leases, chargeback, idle reclaim and day-2 actions then apply as to any
    server (none of the actions to `observe_only` ones: metered and reported only)."""
    if not unknown_ids:
        raise ValidationError({"objects": ["Choose at least one server."]})
    if not provisioning_selectors.organization_administered(
        user=user, organization=project.organization
    ):
        raise PermissionDenied("Only the organization's admins adopt servers into its projects.")
    unknowns = list(
        UnknownObject.objects.select_for_update(of=("self",))
        .select_related("account")
        .filter(pk__in=unknown_ids)
        .order_by("account_id", "pk")
    )
    if len(unknowns) != len(set(unknown_ids)):
        raise ValidationError(
            {"objects": ["Some of these servers were adopted or are gone meanwhile: reload."]}
        )
    foreign = [u.name for u in unknowns if u.account.organization_id != project.organization_id]
    if foreign:
        raise ValidationError(
            {"project": [f"{project.name} is in another organization than {', '.join(foreign)}."]}
        )
    adopted = []
    for account_id in dict.fromkeys(u.account_id for u in unknowns):
        servers = [u for u in unknowns if u.account_id == account_id]
        account = servers[0].account
        cost = monthly_quote(
            cloud_account_id=account.pk,
            resources=[
                {"kind": "server", "count": 1, "properties": {"size": u.size}} for u in servers
            ],
        )
        order = order_adopted(
            user=user,
            project=project,
            cloud_account=account,
            monthly_cost=cost,
            name=", ".join(u.name for u in servers),
        )
        adopted += [
            provisioning_services.unknown_server_adopt(
                unknown=unknown, order=order, observe_only=observe_only, user=user
            )
            for unknown in servers
        ]
        order_completed(order_id=order.pk)
        quota_commit_adopted(order=order)
    return adopted
