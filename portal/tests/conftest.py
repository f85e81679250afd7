"""Fixtures shared by portal's test modules of several layers (here, not in helpers.py: a
fixture imported into a module would shadow its parameter)."""

import pytest
from django.utils import timezone

from catalog.tests.helpers import catalog_world
from portal import demo_history
from portal.tests.helpers import estate_in, sandbox_server_in
from provisioning.models import Resource


@pytest.fixture
def world(built) -> dict:
    """Acme as it ships, by name (see `catalog_world`)."""
    return built(catalog_world)


@pytest.fixture
def estate(world) -> dict:
    """The world and its estate: 60 servers of web-shop's, 3 of data-lab's (`estate_in`)."""
    return estate_in(world)


@pytest.fixture
def sandbox_server(world) -> Resource:
    """An active server of alice's the sandbox cloud knows, so it has a metric series."""
    return sandbox_server_in(world)


@pytest.fixture
def history(demo) -> list:
    """seed_demo's cost history, built once; its months."""
    assert demo_history.seed() is True
    assert demo_history.seed() is False  # idempotent: built once
    return demo_history.history_months(timezone.now().date())
