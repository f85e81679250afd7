"""core.cache: Django's Redis cache without a new redis-py client per call."""

from django.conf import settings
from django.core.cache import cache

from core.cache import RedisCache


def test_one_client_serves_every_call_on_a_pool():
    redis_cache = RedisCache("redis://127.0.0.1:6379/0", {})  # no connection until a command
    client = redis_cache._cache.get_client()
    assert redis_cache._cache.get_client(write=True) is client
    assert redis_cache._cache.get_client(key="another") is client


def test_the_configured_cache_round_trips():
    # Redis (core.cache.RedisCache) wherever the suite runs on it, files otherwise.
    assert settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.redis.RedisCache"
    cache.set("canopy-cache-test", {"n": 1}, 5)
    assert cache.get_many(["canopy-cache-test"]) == {"canopy-cache-test": {"n": 1}}
    assert not cache.add("canopy-cache-test", "other", 5)
    cache.delete("canopy-cache-test")
