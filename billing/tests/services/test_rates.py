"""Prices with history: a price change is a new version (hours metered before it keep their
price), and a rate is checked against known kinds, offered sizes and closed months."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Rate, Usage
from billing.pricing import PriceBook
from billing.services.metering import meter_hour
from billing.services.rates import rate_problems
from billing.tests.helpers import SMALL_HOURLY, T0, at, event, make_resource

pytestmark = pytest.mark.django_db


def test_a_price_change_is_a_new_version_and_old_hours_keep_their_price(world):
    card = world["rate_card"]
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    meter_hour(hour=at(0))
    Rate.objects.create(
        rate_card=card,
        resource_kind="server",
        size="small",
        price=Decimal("0.03"),
        effective_from=(T0 + timedelta(days=1)).date(),
    )
    meter_hour(hour=at(24))
    assert list(
        Usage.objects.filter(resource=server).order_by("hour").values_list("rate", flat=True)
    ) == [
        SMALL_HOURLY,
        Decimal("0.03"),
    ]
    book = PriceBook([server.cloud_account_id])
    applied = book.applied_rates(
        cloud_account_id=server.cloud_account_id, kind="server", size="small", on=T0.date()
    )
    assert [rate.price for rate in applied] == [SMALL_HOURLY]


def test_rates_are_checked_against_known_kinds_offered_sizes_and_closed_months(world):
    card = world["rate_card"]
    today = timezone.now().date()
    assert (
        rate_problems(rate_card=card, resource_kind="server", size="small", effective_from=today)
        == {}
    )
    problems = rate_problems(
        rate_card=card, resource_kind="servr", size="", effective_from=today - timedelta(days=40)
    )
    assert set(problems) == {"resource_kind", "effective_from"}
    assert "server" in problems["resource_kind"][0]
    sizes = rate_problems(rate_card=card, resource_kind="server", size="huge", effective_from=today)
    assert "small" in sizes["size"][0]
