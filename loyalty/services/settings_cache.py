"""The programme's configuration, cached: read on every purchase, changed rarely.

The points scale (programme settings, spend rules, multipliers), the tiers,
the webhook endpoints and the API keys are read from the cache (Redis in
production, shared by every worker) and dropped from it whenever one of them
is saved or deleted, once the change is committed. Entries also expire after
CONFIG_CACHE_SECONDS, which bounds how stale a per-process cache (no Redis)
can be.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")
CONFIG_CACHE_SECONDS = 60
SCALE = "loyalty:config:scale"
TIERS = "loyalty:config:tiers"
WEBHOOKS = "loyalty:config:webhooks"
CLV_HORIZON = "loyalty:insight:clv-horizon"  # the latest usable value fit's horizon


def api_key_entry(prefix: str) -> str:
    return f"loyalty:config:apikey:{prefix}"


def cached(key: str, build: Callable[[], T]) -> T:
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, CONFIG_CACHE_SECONDS)
    return value


def forget(*keys: str) -> None:
    """Drop entries now and again after the commit (a concurrent reader may refill early)."""
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    from loyalty.models import (
        ApiKey,
        ClvFit,
        EarningRule,
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
        ((Programme, EarningRule, Multiplier), lambda obj: (SCALE,)),
        ((Tier,), lambda obj: (SCALE, TIERS)),
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
