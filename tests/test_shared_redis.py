"""Test runs share one Redis database with each other and with their brokers' queues (as several
checkouts and the two xdist workers do here): forgetting a run's cache must delete its own keys
and nothing else. A FLUSHDB there once deleted other runs' queued step messages and their queue
bindings, so their workers waited for tasks that never came."""

import pytest
from django.core.cache import cache, caches

from core.cache import RedisCache
from tests.fixtures import _forget_cache

pytestmark = pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache),
    reason="the cache is a file or memory cache of this run's own (no Redis on this machine)",
)


def test_forgetting_the_cache_keeps_other_runs_keys_and_queues():
    client = caches["default"]._cache.get_client(write=True)
    client.set("another-run:1:probe", "theirs")
    client.rpush("another-run-provisioning", "a queued message")
    cache.set("probe", "ours")
    try:
        _forget_cache()

        assert cache.get("probe") is None
        assert client.get("another-run:1:probe") == b"theirs"
        assert client.lrange("another-run-provisioning", 0, -1) == [b"a queued message"]
    finally:
        client.delete("another-run:1:probe", "another-run-provisioning")
