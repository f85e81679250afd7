"""Fixtures shared by catalog's test modules of several layers (here, not in helpers.py:
a fixture imported into a module would shadow its parameter)."""

from decimal import Decimal

import pytest

import provisioning.selectors as provisioning_selectors
from billing.models import Rate, RateCard
from catalog.tests.helpers import OTHER_OPTIONS, catalog_world
from provisioning.models import CloudAccount


@pytest.fixture
def world(built) -> dict:
    """Acme's people, projects, sandbox account, rate card, budgets, default catalog, quotas and
    approval policies, by name (see `catalog_world`)."""
    return built(catalog_world)


@pytest.fixture
def other_account(world, monkeypatch) -> CloudAccount:
    """A second account serving web-shop, whose cloud offers other sizes, images, locations."""
    account = CloudAccount.objects.create(
        name="other", organization=world["web_shop"].organization, provider="sandbox"
    )
    account.projects.set([world["web_shop"]])
    # Its own card prices its own size (an unpriced size is refused, not quoted 0).
    card = RateCard.objects.create(name="other prices", cloud_account=account)
    Rate.objects.create(rate_card=card, resource_kind="server", size="xlarge", price=Decimal("1"))
    real = provisioning_selectors.cloud_account_options

    def options(*, account: CloudAccount, **kwargs) -> dict:
        return OTHER_OPTIONS if account.name == "other" else real(account=account, **kwargs)

    monkeypatch.setattr(provisioning_selectors, "cloud_account_options", options)
    return account


@pytest.fixture
def foreign_account(world) -> CloudAccount:
    """An account of web-shop's organization that serves data-lab only."""
    account = CloudAccount.objects.create(
        name="foreign", organization=world["web_shop"].organization, provider="sandbox"
    )
    account.projects.set([world["data_lab"]])
    return account
