"""Fixtures shared by autoscaling's test modules of several layers: Acme, whose web-shop orders
the autoscaling web tier."""

import pytest

from catalog.tests.helpers import catalog_world


@pytest.fixture
def shop(built) -> dict:
    """Acme as catalog's tests order in it (`catalog_world`): web-shop (alice a member, bob its
    manager, a quota of 20 servers, a budget of 50 a month) is entitled to the default
    catalog's autoscaling web tier; deletions approve themselves; dave is in data-lab."""
    return built(catalog_world)
