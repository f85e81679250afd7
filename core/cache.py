"""Django's Redis cache, keeping one redis-py client per connection pool, and failing soft.

Django builds a new `redis.Redis` on every cache call; its constructor (response callbacks for
every command) costs about 0.2 ms, a measurable share of an order request, which makes two
cache calls. A client is thread-safe over its pool and the pool reconnects after a fork, so one
per pool is enough.

The cache is an optimisation: when Redis does not answer, reads miss (callers then read the
database), writes are dropped and `add` answers as if it stored the key (a caller using it to
share work goes on alone). After a failure the cache is not asked again for DOWN_SECONDS, so an
outage costs one connection attempt per process every few seconds, not one per call; except a
`delete`, always tried: a key meant to be gone (a flag that holds others back) must not outlive
the outage because this process stopped asking. /health/ asks Redis itself (`cache_ping`).
"""

import logging
import time
from typing import Any

from django.core.cache import caches
from django.core.cache.backends import redis as django_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

DOWN_SECONDS = 5.0
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class _ClientPerPool(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._down_until = 0.0

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def ping(self) -> None:
        self.get_client(write=True).ping()

    def _soft(
        self, name: str, fallback: Any, *args: Any, always: bool = False, **kwargs: Any
    ) -> Any:
        if not always and time.monotonic() < self._down_until:
            return fallback
        try:
            return getattr(super(), name)(*args, **kwargs)
        except _UNREACHABLE as error:
            logger.warning("cache unreachable (%s): not asked again for %ss", error, DOWN_SECONDS)
            self._down_until = time.monotonic() + DOWN_SECONDS
            return fallback

    def get(self, key: Any, default: Any) -> Any:
        return self._soft("get", default, key, default)

    def get_many(self, keys: Any) -> dict:
        return self._soft("get_many", {}, keys)

    def has_key(self, key: Any) -> bool:
        return self._soft("has_key", False, key)

    def add(self, key: Any, value: Any, timeout: Any) -> bool:
        return self._soft("add", True, key, value, timeout)

    def set(self, key: Any, value: Any, timeout: Any) -> None:
        self._soft("set", None, key, value, timeout)

    def set_many(self, data: dict, timeout: Any) -> list:
        return self._soft("set_many", [], data, timeout)

    def touch(self, key: Any, timeout: Any) -> bool:
        return self._soft("touch", False, key, timeout)

    def delete(self, key: Any) -> bool:
        return self._soft("delete", False, key, always=True)

    def delete_many(self, keys: Any) -> None:
        self._soft("delete_many", None, keys, always=True)


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ClientPerPool


def cache_ping(alias: str = "default") -> None:
    """Raise unless the cache answers (Redis is asked directly, past the soft failures)."""
    cache = caches[alias]
    if isinstance(cache, RedisCache):
        cache._cache.ping()
    else:
        cache.set("portal:ping", 1, 10)
