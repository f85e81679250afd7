"""The one pricing engine, read: a new account prices with its organization's default card, a
price change is a new version from its date (factories alone), a quote looks its account up
once however many servers it prices."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Rate, RateCard, Unit
from billing.pricing import HOURS_PER_MONTH, PriceBook, monthly_quote
from billing.tests.factories import RateCardFactory, RateFactory
from provisioning.models import CloudAccount
from provisioning.selectors import cloud_account_options

pytestmark = pytest.mark.django_db


def _new_account(world, name: str) -> CloudAccount:
    account = CloudAccount.objects.create(
        name=name, organization=world["web_shop"].organization, provider="sandbox"
    )
    account.projects.add(world["web_shop"])
    return account


def test_a_new_account_prices_with_its_organizations_default_card(world):
    sandbox = world["sandbox"]
    fresh = _new_account(world, "sandbox-2")
    spec = [{"kind": "server", "properties": {"size": "medium"}}]
    assert monthly_quote(cloud_account_id=fresh.pk, resources=spec) == monthly_quote(
        cloud_account_id=sandbox.pk, resources=spec
    )
    # Its own card, once it has one, wins for the kinds it prices.
    card = RateCard.objects.create(name="sandbox-2 prices", cloud_account=fresh)
    Rate.objects.create(rate_card=card, resource_kind="server", size="medium", price=Decimal("1"))
    assert monthly_quote(cloud_account_id=fresh.pk, resources=spec) == HOURS_PER_MONTH


def test_a_price_change_is_a_new_version_from_its_date():
    card = RateCardFactory(organization=None, rates={"server": "0.02"})  # the default card
    RateFactory(rate_card=card, price=Decimal("0.05"), effective_from=date(2026, 11, 1))
    book = PriceBook([], rates=list(card.rates.select_related("rate_card")))
    assert book.hourly(cloud_account_id=None, kind="server", on=date(2026, 10, 31)).running == (
        Decimal("0.020000")
    )
    assert book.hourly(cloud_account_id=None, kind="server", on=date(2026, 11, 1)).running == (
        Decimal("0.050000")
    )


def test_a_quote_looks_the_account_up_once_however_many_servers(world):
    """Size facts are per account and size, not per priced resource (here: per root disk)."""
    card = world["rate_card"]
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.VCPU_HOUR, price=Decimal("0.01")
    )
    specs = [
        {"key": f"vm{gb}", "kind": "server", "name": f"vm{gb}", "count": 1, "depends_on": [],
         "properties": {"size": "medium", "disk_gb": gb}}
        for gb in (10, 20, 30)
    ]  # fmt: skip
    sandbox = world["sandbox"]  # priced by Acme's default card
    cloud_account_options(account=sandbox)  # the provider's size list, cached
    with CaptureQueriesContext(connection) as queries:
        monthly_quote(cloud_account_id=sandbox.pk, resources=specs)
    table = CloudAccount._meta.db_table
    assert sum(f'FROM "{table}"' in q["sql"] for q in queries.captured_queries) == 1
