"""Django's Redis cache, failing open: with Redis down, each process uses a cache of its own.

Redis is a cache and a broker here, never the source of truth, so a request must not fail
because Redis does not answer. Every cache operation that meets a connection error (refused,
timed out, reset) is done instead on a per-process memory cache, with the same keys and
timeouts: the configuration cache becomes a per-process copy (built from the database),
throttle counters count per process, allauth's rate limits likewise. This covers third-party
callers too (allauth), which cannot be taught to catch Redis errors.

After a failure a per-process circuit breaker sends every operation to the memory cache for
BREAKER_SECONDS, so requests do not each pay a connection timeout while Redis is away; the
first operation after that tries Redis again. Values written while Redis was away stay in
the process that wrote them: configuration entries expire after CONFIG_CACHE_SECONDS anyway,
which bounds how stale a process can be.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import ClassVar

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis import exceptions as redis_errors

logger = logging.getLogger(__name__)

BREAKER_SECONDS = 5.0
# What a Redis that is down, restarting or unreachable raises (redis-py wraps most socket
# errors, but not every one: OSError covers the rest).
UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class _Breaker:
    """Process-wide, per Redis location: cache backends are made per thread, an outage is not."""

    def __init__(self):
        self.open_until = 0.0
        self.lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def trip(self, location: str, error: Exception) -> None:
        with self.lock:
            was_closed = not self.is_open
            self.open_until = time.monotonic() + BREAKER_SECONDS
        if was_closed:
            logger.warning("Redis cache %s did not answer (%s): using a per-process cache for "
                           "%g s at a time until it does", location, error, BREAKER_SECONDS)

    def reset(self) -> None:
        self.open_until = 0.0


def _fail_open(name: str, *, also_local: bool = False):
    """An operation done on Redis, or on the fallback when Redis is away; `also_local` ones
    (deletions) are done on the fallback every time, so that a copy made during one outage is
    not served during the next."""

    def operation(self, *args, **kwargs):
        if also_local:
            local = getattr(self.fallback, name)(*args, **kwargs)
        if not self.breaker.is_open:
            try:
                return getattr(super(FailOpenRedisCache, self), name)(*args, **kwargs)
            except UNAVAILABLE as error:
                self.breaker.trip(self._location, error)
        return local if also_local else getattr(self.fallback, name)(*args, **kwargs)

    operation.__name__ = name
    return operation


class FailOpenRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` that never raises for an absent Redis."""

    breakers: ClassVar[dict[str, _Breaker]] = {}
    _breakers_lock = threading.Lock()

    def __init__(self, server, params):
        super().__init__(server, params)
        self._location = server if isinstance(server, str) else ",".join(server)
        with self._breakers_lock:
            self.breaker = self.breakers.setdefault(self._location, _Breaker())
        # Memory caches of one name share their storage across threads (of one process).
        self.fallback = LocMemCache(f"fail-open:{self._location}", {
            "TIMEOUT": params.get("TIMEOUT", 300),
            "KEY_PREFIX": params.get("KEY_PREFIX", ""),
            "VERSION": params.get("VERSION", 1),
            "KEY_FUNCTION": params.get("KEY_FUNCTION"),
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        })

    add = _fail_open("add")
    get = _fail_open("get")
    set = _fail_open("set")
    touch = _fail_open("touch")
    delete = _fail_open("delete", also_local=True)
    get_many = _fail_open("get_many")
    has_key = _fail_open("has_key")
    incr = _fail_open("incr")
    set_many = _fail_open("set_many")
    delete_many = _fail_open("delete_many", also_local=True)
    clear = _fail_open("clear", also_local=True)
