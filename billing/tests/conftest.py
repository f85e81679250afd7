"""Fixtures shared by billing's test modules of several layers (here, not in helpers.py: a
fixture imported into a module would shadow its parameter)."""

import pytest

from billing.tests.helpers import billing_world


@pytest.fixture
def world(built) -> dict:
    """Acme's people, projects, sandbox account, item, rate card and budgets, by name (see
    `billing_world`)."""
    return built(billing_world)
