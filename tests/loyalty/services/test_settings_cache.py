"""The configuration cache pinned in memory for a batch job (settings_cache.pinned)."""

from decimal import Decimal

import pytest
from django.db import transaction

from loyalty.models import EarningRule, Programme
from loyalty.services import earning, settings_cache
from loyalty.services.purchases import record_purchase

pytestmark = pytest.mark.django_db


class CountingCache:
    """The real cache, counting the reads that reach it."""

    def __init__(self, cache):
        self.cache, self.gets = cache, 0

    def get(self, key, *args, **kwargs):
        self.gets += 1
        return self.cache.get(key, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.cache, name)


@pytest.fixture
def counting(monkeypatch):
    counting = CountingCache(settings_cache.cache)
    monkeypatch.setattr(settings_cache, "cache", counting)
    return counting


def test_pinned_reads_each_entry_from_the_cache_once(counting):
    with settings_cache.pinned():
        first = earning.load_scale()
        for _ in range(5):
            assert earning.load_scale() is first
            earning.all_tiers()
    assert counting.gets == 2  # the scale once, the tiers once
    earning.load_scale()
    assert counting.gets == 3  # outside, every read goes to the cache again


def test_a_change_saved_while_pinned_is_seen_at_once():
    with settings_cache.pinned():
        assert earning.current_programme().max_points_per_day is None
        programme = Programme.load()
        programme.max_points_per_day = 300
        programme.save()
        assert earning.current_programme().max_points_per_day == 300
        EarningRule.objects.create(name="2 points per euro", points_per_unit=Decimal("2"))
        assert [rule.name for rule in earning.load_scale().rules] == ["2 points per euro"]


def test_a_purchase_earns_the_same_pinned_or_not(member, store):
    EarningRule.objects.create(name="1 point per euro", points_per_unit=Decimal("1"))
    plain = record_purchase(store=store, order_id="A-1", amount="42.50", member=member)
    with transaction.atomic(), settings_cache.pinned():
        pinned = record_purchase(store=store, order_id="A-2", amount="42.50", member=member)
    assert pinned.obj.points_earned == plain.obj.points_earned == 42
    assert pinned.obj.points_breakdown == plain.obj.points_breakdown


def test_pinning_ends_with_its_block(counting):
    with settings_cache.pinned():
        earning.load_scale()
    with settings_cache.pinned():
        earning.load_scale()
    assert counting.gets == 2
