"""Brownfield adoption by the service: a server observed only is metered but never acted on
(nor reclaimed), and only the organization's admins adopt."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from catalog.orders import order_destroy
from lifecycle.selectors.adoption import adoptable_servers
from lifecycle.selectors.reclaim import reclaim_candidates
from lifecycle.services.adoption import unknown_servers_adopt
from lifecycle.tests.helpers import (
    idle_policy,
    launch_outside_canopy,
    organization_admin,
)
from provisioning.models import UnknownObject
from provisioning.services.day2 import resource_action_request
from provisioning.services.reconciler import reconcile_accounts

pytestmark = pytest.mark.django_db


def test_observed_only_servers_are_metered_but_never_acted_on(shop, ec2, moto):
    org_admin = organization_admin(shop)
    launch_outside_canopy(moto, "watched", **{"cost-center": "CC-100"})
    reconcile_accounts()
    [row] = adoptable_servers(user=org_admin)
    assert row.suggested == shop["web_shop"]  # by its cost center
    [server] = unknown_servers_adopt(
        user=org_admin, unknown_ids=[row.server.pk], project=row.suggested, observe_only=True
    )
    assert server.observe_only and server.events.filter(kind="created").exists()
    with pytest.raises(ValidationError, match="observed only"):
        resource_action_request(user=shop["alice"], resource_id=server.pk, action="stop")
    with pytest.raises(ValidationError, match="observed only"):
        order_destroy(user=shop["alice"], order_id=server.order_id)
    idle_policy(shop, notify_after=timedelta(0))
    assert reclaim_candidates(open_cases=set()) == []  # idle reclaim leaves it alone


def test_adoption_is_for_the_organizations_admins(shop, ec2, moto):
    launch_outside_canopy(moto, "legacy")
    reconcile_accounts()
    unknown = UnknownObject.objects.get(name="legacy")
    assert adoptable_servers(user=shop["alice"]) == []
    with pytest.raises(PermissionDenied, match="Only the organization's admins"):
        unknown_servers_adopt(
            user=shop["alice"], unknown_ids=[unknown.pk], project=shop["web_shop"]
        )
