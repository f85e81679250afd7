"""Metering follows the provider: a resize or a stop made in the cloud's console, adopted by the
reconciler as drift, is billed from the hour it was seen."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F

from billing.models import Usage
from billing.pricing import PriceBook
from billing.services.metering import meter_hour
from billing.tests.factories import RateCardFactory, RateFactory
from provisioning.models import Drift, Resource, SandboxObject
from provisioning.services.reconciler import reconcile_accounts
from provisioning.tests.factories import CloudAccountFactory
from provisioning.tests.helpers import provisioned_server

pytestmark = pytest.mark.django_db


def _hour_after_cost(server: Resource, event) -> Decimal:
    """Metering of the clock hour after `event` (three hours ago: every event of the server is
    moved back so that hour has ended): the server's charge, 0 without a row."""
    server.events.update(at=F("at") - timedelta(hours=3))
    event.refresh_from_db()
    hour = (event.at + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    meter_hour(hour=hour)
    usage = Usage.objects.filter(resource=server, hour=hour).first()
    return usage.cost if usage else Decimal(0)


def _price(server: Resource, size: str):
    return PriceBook([server.cloud_account_id]).hourly(
        cloud_account_id=server.cloud_account_id,
        kind="server",
        size=size,
        properties=server.properties,
    )


def test_adopted_console_changes_are_billed_from_then_on():
    account = CloudAccountFactory()
    card = RateCardFactory(organization=account.organization)  # the organization's list prices
    RateFactory(rate_card=card, size="small", price=Decimal("0.02"))
    RateFactory(rate_card=card, size="large", price=Decimal("0.08"))
    resized = provisioned_server("grown", cloud_account=account)
    stopped = provisioned_server("halted", cloud_account=account)
    SandboxObject.objects.filter(external_id=resized.external_id).update(size="large")
    SandboxObject.objects.filter(external_id=stopped.external_id).update(state="stopped")

    assert reconcile_accounts()["drift"] == 2
    for server in (resized, stopped):
        server.refresh_from_db()
    assert resized.properties["size"] == "large" and stopped.state == "stopped"
    drifts = Drift.objects.values_list("resource", "field", "recorded", "reported", "outcome")
    assert set(drifts) == {
        (resized.pk, "size", "small", "large", "adopted"),
        (stopped.pk, "power", "active", "stopped", "adopted"),
    }
    assert not Drift.objects.filter(resolved_at__isnull=True).exists()
    assert reconcile_accounts()["drift"] == 0  # adopted: nothing differs any more

    # From the hour it was seen: the resized server at its new size, the stopped one its disk.
    assert resized.events.get(kind="resized").size == "large"
    assert (
        _hour_after_cost(resized, resized.events.get(kind="resized"))
        == _price(resized, "large").running
    )
    assert (
        _hour_after_cost(stopped, stopped.events.get(kind="stopped"))
        == _price(stopped, "small").idle
    )
