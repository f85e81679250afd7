"""Fixtures of the cross-app tests that are not about the demo (the browser tests walk the
demo's personas: they take `demo`)."""

import pytest

from catalog.tests.helpers import catalog_world


@pytest.fixture
def world(built) -> dict:
    """Acme as it ships, by name (see `catalog_world`)."""
    return built(catalog_world)
