"""`manage.py seed_demo` run again over the demo's cost history (a second `make run` on the same
database) keeps the history's price versions."""

import io

import pytest
from django.core.management import call_command

from billing.models import Rate
from portal.tests.helpers import history_fixture  # noqa: F401  (fixture: the demo's history)

pytestmark = pytest.mark.django_db


def test_seeding_the_demo_again_keeps_its_price_versions(demo, history):
    """A second `make run` on the same database re-runs seed_demo over the history's prices."""
    versions = set(Rate.objects.values_list("rate_card_id", "resource_kind", "size", "price"))
    call_command("seed_demo", stdout=io.StringIO())
    assert set(Rate.objects.values_list("rate_card_id", "resource_kind", "size", "price")) == (
        versions
    )
