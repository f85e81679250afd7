"""Fixtures of the cross-app tests that are not about the demo (the browser tests walk the
demo's personas: they take `demo`)."""

import pytest

from portal.tests.helpers import portal_world


@pytest.fixture
def world(db) -> dict:
    """Acme as it ships, by name (see `portal_world`)."""
    return portal_world()
