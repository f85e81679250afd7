"""Fixtures shared by lifecycle's test modules of several layers: Acme with the default catalog
(`catalog_world`), and its EC2 account at moto."""

import pytest

from catalog.models import CatalogItem
from catalog.tests.helpers import catalog_world
from provisioning.models import CloudAccount
from provisioning.tests.helpers import CLOUDWATCH, ec2_account


@pytest.fixture
def shop(built) -> dict:
    """Acme as catalog's tests order in it (`catalog_world`), and its web-tier by name."""
    world = built(catalog_world)
    return {**world, "web_tier": CatalogItem.objects.get(slug="web-tier")}


@pytest.fixture
def ec2(shop: dict, moto: str) -> CloudAccount:
    """Acme's EC2 account at moto (metrics from CloudWatch), offered to web-shop."""
    account = ec2_account(shop["web_shop"].organization, moto, **CLOUDWATCH)
    account.projects.add(shop["web_shop"])
    return account
