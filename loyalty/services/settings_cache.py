"""The programme's configuration, cached: read on every purchase, changed rarely.

The points scale (programme settings, spend rules, multipliers), the tiers,
the webhook endpoints and the API keys are read from the cache (Redis in
production, shared by every worker) and dropped from it whenever one of them
is saved or deleted, once the change is committed. Entries also expire after
CONFIG_CACHE_SECONDS, which bounds how stale a per-process cache (no Redis)
can be.

A batch job that reads the configuration thousands of times in one process (the demo's
two years of history) can `pin` it: within, each entry is read from the cache once and
then kept in memory (a change saved within drops it there too).

Redis is a cache, not the source of truth: when the cache raises (Redis down and a
backend that does not fail open by itself, see loyalty.redis_cache), entries are kept in
a per-process copy with the same lifetime, built from the database, and dropping them
never fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")
CONFIG_CACHE_SECONDS = 60
SCALE = "loyalty:config:scale"
TIERS = "loyalty:config:tiers"
WEBHOOKS = "loyalty:config:webhooks"
BRAND = "loyalty:config:brand"  # the name, colours and logo the pages show (loyalty.brand)
CLV_HORIZON = "loyalty:insight:clv-horizon"  # the latest usable value fit's horizon


def api_key_entry(prefix: str) -> str:
    return f"loyalty:config:apikey:{prefix}"


# The entries pinned in memory by `pinned()` (None: not pinned).
_pinned: ContextVar[dict[str, object] | None] = ContextVar("settings_cache_pinned",
                                                           default=None)

# The per-process copy used while the cache raises: key -> (expires at, monotonic; value).
_copies: dict[str, tuple[float, object]] = {}
_copies_lock = threading.Lock()


def _from_copy(key: str, build: Callable[[], T]) -> T:
    now = time.monotonic()
    with _copies_lock:
        copy = _copies.get(key)
    if copy is not None and copy[0] > now:
        return copy[1]
    value = build()
    with _copies_lock:
        _copies[key] = (now + CONFIG_CACHE_SECONDS, value)
    return value


@contextmanager
def pinned() -> Iterator[None]:
    """Within: an entry read once is kept in memory, not read (unpickled) from the cache
    again, until a change to it is saved (`forget`). For a batch job in one process, whose
    own writes are the only changes it needs to see."""
    token = _pinned.set({})
    try:
        yield
    finally:
        _pinned.reset(token)


def cached(key: str, build: Callable[[], T]) -> T:
    """The entry under `key`, built (from the database) and cached when missing."""
    memo = _pinned.get()
    if memo is None:
        return _cached(key, build)
    if key not in memo:
        memo[key] = _cached(key, build)
    return memo[key]


def _cached(key: str, build: Callable[[], T]) -> T:
    try:
        value = cache.get(key)
    except Exception:  # noqa: BLE001 - any cache backend's connection error
        logger.warning("configuration cache: the cache did not answer; using this "
                       "process's copy", exc_info=True)
        return _from_copy(key, build)
    if value is None:
        value = build()
        store(key, value)
    return value


def store(key: str, value: object) -> None:
    """Cache `value` under `key` for CONFIG_CACHE_SECONDS, as far as the cache answers."""
    try:
        cache.set(key, value, CONFIG_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("configuration cache: could not store %s", key, exc_info=True)
        with _copies_lock:
            _copies[key] = (time.monotonic() + CONFIG_CACHE_SECONDS, value)


def _drop(keys: Iterable[str]) -> None:
    memo = _pinned.get()
    for key in keys if memo is not None else ():
        memo.pop(key, None)
    with _copies_lock:
        for key in keys:
            _copies.pop(key, None)
    try:
        cache.delete_many(keys)
    except Exception:  # noqa: BLE001 - the entries expire after CONFIG_CACHE_SECONDS anyway
        logger.warning("configuration cache: could not drop %s", ", ".join(keys),
                       exc_info=True)


def forget(*keys: str) -> None:
    """Drop entries now and again after the commit (a concurrent reader may refill early).

    Never raises: an entry the cache could not drop expires after CONFIG_CACHE_SECONDS.
    """
    _drop(keys)
    transaction.on_commit(lambda: _drop(keys))


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    from loyalty.models import (
        ApiKey,
        ClvFit,
        EarningRule,
        Journey,
        Multiplier,
        Programme,
        Store,
        Tier,
        WebhookEndpoint,
    )

    def drop(keys):
        def receiver(sender, instance, **kwargs):
            forget(*keys(instance))
        return receiver

    groups = [
        # A journey: whether the scale looks for next-purchase bonuses (Scale.bonuses).
        ((Programme, EarningRule, Multiplier), lambda obj: (SCALE, BRAND)),
        ((Journey,), lambda obj: (SCALE,)),
        ((Tier,), lambda obj: (SCALE, TIERS, BRAND)),
        ((WebhookEndpoint,), lambda obj: (WEBHOOKS,)),
        ((ApiKey,), lambda obj: (api_key_entry(obj.prefix),)),
        # A cached key carries its store: closing the store stops its keys at once.
        ((Store,), lambda obj: tuple(api_key_entry(prefix) for prefix in ApiKey.objects.filter(
            store_id=obj.pk).values_list("prefix", flat=True))),
        ((ClvFit,), lambda obj: (CLV_HORIZON,)),
    ]
    for models, keys in groups:
        receiver = drop(keys)
        for model in models:
            post_save.connect(receiver, sender=model, weak=False,
                              dispatch_uid=f"config-cache-save-{model.__name__}")
            post_delete.connect(receiver, sender=model, weak=False,
                                dispatch_uid=f"config-cache-delete-{model.__name__}")
