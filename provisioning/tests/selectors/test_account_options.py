"""A cloud account's options (locations, sizes, images) and capabilities, read from the cache or,
for the sandbox, in place; never the options cached under another account's id."""

import time

import pytest
from django.core.cache import cache

from provisioning.providers import REGISTRY
from provisioning.selectors import (
    account_supports,
    cloud_account_options,
    options_cache_key,
    size_info,
)
from provisioning.tests.factories import CloudAccountFactory

pytestmark = pytest.mark.django_db


def test_options_sizes_and_capabilities(monkeypatch):
    account = CloudAccountFactory()
    options = cloud_account_options(account=account)
    assert [s.id for s in options["sizes"]] == ["small", "medium", "large"]
    assert options["locations"] and options["images"]
    assert size_info(account=account, size="medium").vcpus == 2
    assert size_info(account=account, size="huge") is None
    assert account_supports(account=account, kinds={"database", "autoscaling_group", "dns_record"})
    assert not account_supports(account=account, kinds={"quantum_computer"})
    monkeypatch.delitem(REGISTRY, "sandbox")  # no adapter installed for the provider
    assert not account_supports(account=account, kinds={"server"})


def test_a_new_account_is_not_served_options_cached_under_its_id():
    """SQLite, the embedded mode, gives a new row the id of the last one deleted: options cached
    for that one must not reach the new account, however the row is written."""
    reused_id = CloudAccountFactory().pk + 1000
    fresh = {"fetched_at": time.time(), "sizes": ["t3.micro"], "images": [], "locations": []}
    cache.set(options_cache_key(reused_id), fresh)
    account = CloudAccountFactory(pk=reused_id, name="fresh")
    sizes = [size.id for size in cloud_account_options(account=account)["sizes"]]
    assert sizes and "t3.micro" not in sizes
