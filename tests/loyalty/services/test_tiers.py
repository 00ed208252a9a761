from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.models import TierChange
from loyalty.services import ledger, tiers
from loyalty.services.purchases import record_purchase, record_refund
from loyalty.tasks import reevaluate_tiers
from tests.factories import TierFactory, make_member, programme

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder(db):
    return (TierFactory(code="bronze", name="Bronze", rank=0, threshold=0),
            TierFactory(code="silver", name="Silver", rank=1, threshold=500),
            TierFactory(code="gold", name="Gold", rank=2, threshold=1500))


def test_tiers_count_points_earned_in_the_window_not_the_spendable_balance(
        store, scale, member, ladder):
    bronze, silver, _gold = ladder
    record_purchase(store=store, order_id="1", amount="600.00", member=member)
    member.refresh_from_db()
    assert member.tier == silver
    ledger.adjust_points(member_id=member.pk, points=-600, reason="spent on rewards")
    assert tiers.reevaluate_tier(member_id=member.pk) == silver


def test_demotion_happens_only_at_reevaluation_once_the_window_moved_on(
        store, scale, member, ladder):
    bronze, silver, _gold = ladder
    programme(tier_window_days=365, points_validity_days=800)
    long_ago = timezone.now() - timedelta(days=300)
    record_purchase(store=store, order_id="1", amount="600.00", member=member,
                    occurred_at=long_ago, now=long_ago)
    assert tiers.reevaluate_tier(member_id=member.pk) == silver
    later = timezone.now() + timedelta(days=100)
    record_purchase(store=store, order_id="2", amount="10.00", member=member,
                    occurred_at=later - timedelta(minutes=1), now=later)
    member.refresh_from_db()
    assert member.tier == silver  # a purchase never demotes
    assert tiers.reevaluate_tier(member_id=member.pk, now=later) == bronze
    assert list(member.tier_changes.values_list("reason", flat=True)) == [
        "reevaluation", "promotion"]


def test_refunded_points_do_not_qualify(store, scale, member, ladder):
    _bronze, silver, _gold = ladder
    purchase = record_purchase(store=store, order_id="1", amount="600.00", member=member).obj
    record_refund(purchase=purchase, refund_id="R", amount="200.00")
    assert tiers.qualifying_value(member=member, now=timezone.now()) == Decimal(400)
    assert tiers.reevaluate_tier(member_id=member.pk) != silver


def test_tiers_on_spend(store, scale, member, ladder):
    _bronze, silver, _gold = ladder
    programme(tier_basis="spend")
    scale.points_per_unit = Decimal("0.1")
    scale.save()
    record_purchase(store=store, order_id="1", amount="510.00", member=member)
    member.refresh_from_db()
    assert member.tier == silver


def test_the_reevaluation_task_is_idempotent(store, scale, ladder):
    members = [make_member() for _ in range(3)]
    for i, m in enumerate(members):
        record_purchase(store=store, order_id=str(i), amount=str(600 * i) + ".00", member=m)
    TierChange.objects.all().delete()
    # It returns how many members it sent to be changed: none, promotions were immediate.
    assert reevaluate_tiers.delay().get() == 0
    assert reevaluate_tiers.delay().get() == 0
    assert TierChange.objects.count() == 0
    gold = ladder[2]
    gold.threshold = 1000
    gold.save()
    assert reevaluate_tiers.delay().get() == 1
    assert reevaluate_tiers.delay().get() == 0
    assert TierChange.objects.filter(to_tier=gold).count() == 1


def test_staff_can_set_a_tier_and_it_is_in_the_history(member, ladder):
    gold = ladder[2]
    tiers.set_tier(member_id=member.pk, tier=gold)
    member.refresh_from_db()
    assert member.tier == gold
    assert member.tier_changes.first().reason == "manual"


def _window_sums_of_purchase(store, member, order_id: str, amount: str) -> int:
    """Record a purchase and refresh the member; how many window sums it ran."""
    with CaptureQueriesContext(connection) as captured:
        record_purchase(store=store, order_id=order_id, amount=amount, member=member)
    member.refresh_from_db()
    return sum('SUM(' in q["sql"] and "loyalty_pointslot" in q["sql"]
               for q in captured.captured_queries)


def test_a_purchase_skips_the_window_sum_when_lifetime_points_cannot_reach_the_next_tier(
        store, scale, member, ladder):
    record_purchase(store=store, order_id="0", amount="10.00", member=member)
    member.refresh_from_db()
    assert member.tier.code == "bronze"
    assert _window_sums_of_purchase(store, member, "1", "100.00") == 0
    assert member.lifetime_earned == 110 and member.tier.code == "bronze"
    # Lifetime reaches 500: the window is counted.
    assert _window_sums_of_purchase(store, member, "2", "450.00") == 1
    assert member.tier.code == "silver"


def test_old_points_in_the_lifetime_total_do_not_promote(store, scale, member, ladder):
    """Lifetime points above the threshold only make the window count: it decides."""
    programme(tier_window_days=30, points_validity_days=800)
    long_ago = timezone.now() - timedelta(days=200)
    record_purchase(store=store, order_id="old", amount="1400.00", member=member,
                    occurred_at=long_ago, now=long_ago)
    tiers.reevaluate_tier(member_id=member.pk)  # the window moved on: back to bronze
    member.refresh_from_db()
    assert member.tier.code == "bronze" and member.lifetime_earned >= 500
    assert _window_sums_of_purchase(store, member, "new", "200.00") == 1
    assert member.tier.code == "bronze"  # 200 in the window, whatever the lifetime


def test_no_window_sum_at_the_top_tier(store, scale, member, ladder):
    record_purchase(store=store, order_id="1", amount="1600.00", member=member)
    member.refresh_from_db()
    assert member.tier.code == "gold"
    assert _window_sums_of_purchase(store, member, "2", "10.00") == 0
