from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import PointsEntry, Purchase, Refund
from loyalty.services import ledger
from loyalty.services.errors import (
    InsufficientPoints,
    Invalid,
    OrderConflict,
    RefundConflict,
    RefundExceedsPurchase,
)
from loyalty.services.purchases import points_status, record_purchase, record_refund
from tests.factories import (
    EarningRuleFactory,
    MultiplierFactory,
    TierFactory,
    make_member,
    programme,
)

pytestmark = pytest.mark.django_db


def buy(store, member, amount, order_id="A1", **kwargs):
    return record_purchase(store=store, order_id=order_id, amount=amount, member=member,
                           **kwargs)


def test_a_purchase_earns_and_stores_its_breakdown(store, scale, member, ledger_is_sound):
    recorded = buy(store, member, "49.90")
    purchase = recorded.obj
    assert recorded.created
    assert purchase.points_earned == 49
    assert purchase.points_breakdown[0]["points"] == 49
    assert purchase.balance_after == 49
    assert points_status(purchase) == "available"
    ledger_is_sound()


def test_the_same_order_again_changes_nothing(store, scale, member):
    first = buy(store, member, "20.00", items=[{"sku": "A", "quantity": 2,
                                                 "unit_price": "10.00"}]).obj
    again = buy(store, member, "20.00", items=[{"sku": "A", "quantity": 2,
                                                 "unit_price": "10.00"}])
    assert not again.created and again.obj.pk == first.pk
    member.refresh_from_db()
    assert member.balance == 20
    assert PointsEntry.objects.filter(member=member).count() == 1


@pytest.mark.parametrize("change", [{"amount": "21.00"}, {"other_member": True},
                                    {"items": [{"sku": "B", "quantity": 1,
                                                "unit_price": "20.00"}]}])
def test_the_same_order_id_with_other_content_is_a_conflict(store, scale, member, change):
    buy(store, member, "20.00")
    other = make_member() if change.pop("other_member", False) else member
    kwargs = {"amount": "20.00", **change}
    with pytest.raises(OrderConflict) as error:
        buy(store, other, **kwargs)
    assert error.value.code == "order_conflict"


def test_order_ids_are_scoped_per_store(store, web_store, scale, member):
    buy(store, member, "10.00")
    assert buy(web_store, member, "10.00").created


def test_points_stay_pending_during_the_return_window(store, scale, member, ledger_is_sound):
    programme(return_window_days=14)
    purchase = buy(store, member, "100.00").obj
    member.refresh_from_db()
    assert (member.balance, member.pending) == (0, 100)
    assert points_status(purchase) == "pending"
    with time_machine.travel(timezone.now() + timedelta(days=15)):
        ledger.bring_member_up_to_date(member_id=member.pk)
        assert points_status(purchase) == "available"
    member.refresh_from_db()
    assert (member.balance, member.pending) == (100, 0)
    ledger_is_sound()


@pytest.mark.parametrize("amount", ["-1.00", "12.345", "abc", "NaN", "Infinity", "1e9",
                                    None, 12.5, "100000.01", ""])
def test_bad_amounts_are_refused_and_nothing_is_written(store, scale, member, amount):
    with pytest.raises(Invalid) as error:
        buy(store, member, amount)
    assert "amount" in error.value.fields
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("items", [
    [{"sku": "", "quantity": 1, "unit_price": "1.00"}],
    [{"sku": "A", "quantity": 0, "unit_price": "1.00"}],
    [{"sku": "A", "quantity": "2", "unit_price": "1.00"}],
    [{"sku": "A", "quantity": 1, "unit_price": "-1.00"}],
    ["not an object"],
    "not a list",
])
def test_bad_items_are_refused(store, scale, member, items):
    with pytest.raises(Invalid):
        buy(store, member, "10.00", items=items)
    assert not Purchase.objects.exists()


def test_order_id_and_occurred_at_are_checked(store, scale, member):
    with pytest.raises(Invalid):
        buy(store, member, "10.00", order_id="")
    with pytest.raises(Invalid):
        buy(store, member, "10.00", order_id="x" * 101)
    with pytest.raises(Invalid):
        buy(store, member, "10.00", occurred_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(Invalid):
        buy(store, member, "10.00", occurred_at=timezone.now().replace(tzinfo=None))


def test_a_purchase_crossing_a_threshold_promotes_at_once(store, scale, member):
    TierFactory(code="base", name="Base", rank=0, threshold=0)
    silver = TierFactory(code="silver", name="Silver", rank=1, threshold=100,
                         earn_multiplier=Decimal("2"))
    buy(store, member, "60.00", order_id="1")
    member.refresh_from_db()
    assert member.tier != silver
    buy(store, member, "50.00", order_id="2")
    member.refresh_from_db()
    assert member.tier == silver
    # The next purchase earns with the new tier's multiplier.
    assert buy(store, member, "10.00", order_id="3").obj.points_earned == 20


def test_a_full_refund_takes_back_every_point(store, scale, member, ledger_is_sound):
    purchase = buy(store, member, "80.00").obj
    refund = record_refund(purchase=purchase, refund_id="R1", amount="80.00").obj
    assert refund.points_reversed == 80
    member.refresh_from_db()
    assert (member.balance, member.lifetime_earned) == (0, 0)
    ledger_is_sound()


def test_partial_refunds_reverse_in_proportion_and_add_up_to_the_whole(
        store, scale, member, ledger_is_sound):
    purchase = buy(store, member, "99.99").obj  # 99 points
    reversed_points = [record_refund(purchase=purchase, refund_id=f"R{i}",
                                     amount="33.33").obj.points_reversed for i in range(3)]
    assert sum(reversed_points) == 99
    assert reversed_points == [33, 33, 33]
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("99.99")
    with pytest.raises(RefundExceedsPurchase):
        record_refund(purchase=purchase, refund_id="R9", amount="0.01")
    ledger_is_sound()


def test_a_refund_is_idempotent_on_its_id_and_conflicts_on_other_content(store, scale, member):
    purchase = buy(store, member, "50.00").obj
    first = record_refund(purchase=purchase, refund_id="R1", amount="10.00")
    again = record_refund(purchase=purchase, refund_id="R1", amount="10.00")
    assert first.created and not again.created and again.obj.pk == first.obj.pk
    member.refresh_from_db()
    assert member.balance == 40
    with pytest.raises(RefundConflict):
        record_refund(purchase=purchase, refund_id="R1", amount="11.00")
    assert Refund.objects.count() == 1


def test_a_refund_larger_than_the_purchase_is_refused_and_writes_nothing(store, scale, member):
    purchase = buy(store, member, "50.00").obj
    with pytest.raises(RefundExceedsPurchase) as error:
        record_refund(purchase=purchase, refund_id="R1", amount="50.01")
    assert error.value.code == "refund_exceeds_purchase"
    assert not Refund.objects.exists()
    member.refresh_from_db()
    assert member.balance == 50


def test_refunding_spent_points_puts_the_balance_below_zero_and_blocks_spending(
        store, scale, member, ledger_is_sound):
    purchase = buy(store, member, "100.00").obj
    ledger.adjust_points(member_id=member.pk, points=-90, reason="Spent on a reward")
    record_refund(purchase=purchase, refund_id="R1", amount="100.00")
    member.refresh_from_db()
    assert member.balance == -90
    with pytest.raises(InsufficientPoints):
        ledger.adjust_points(member_id=member.pk, points=-1, reason="Anything")
    # The next purchase pays the debt off first.
    buy(store, member, "100.00", order_id="A2")
    member.refresh_from_db()
    assert member.balance == 10
    ledger_is_sound()


def test_points_that_already_expired_are_not_taken_twice_by_a_refund(
        store, scale, member, ledger_is_sound):
    programme(points_validity_days=30)
    purchase = buy(store, member, "100.00").obj
    later = timezone.now() + timedelta(days=31)
    ledger.bring_member_up_to_date(member_id=member.pk, now=later)
    member.refresh_from_db()
    assert member.balance == 0
    refund = record_refund(purchase=purchase, refund_id="R1", amount="100.00", now=later).obj
    assert refund.points_reversed == 0
    member.refresh_from_db()
    assert member.balance == 0
    ledger_is_sound()


def test_a_refund_during_the_return_window_takes_pending_points(store, scale, member,
                                                                 ledger_is_sound):
    programme(return_window_days=14)
    purchase = buy(store, member, "100.00").obj
    record_refund(purchase=purchase, refund_id="R1", amount="25.00")
    member.refresh_from_db()
    assert (member.balance, member.pending) == (0, 75)
    ledger_is_sound()


def test_refunds_use_what_the_purchase_earned_not_todays_rules(store, scale, member):
    purchase = buy(store, member, "100.00").obj
    scale.points_per_unit = 10
    scale.save()
    refund = record_refund(purchase=purchase, refund_id="R1", amount="50.00").obj
    assert refund.points_reversed == 50


def test_ingesting_a_purchase_takes_a_bounded_number_of_queries_whatever_the_history(
        store, scale, member, django_assert_max_num_queries):
    TierFactory(code="base", name="Base", rank=0, threshold=0)
    TierFactory(code="gold", name="Gold", rank=1, threshold=10**6)
    EarningRuleFactory(name="Shoes", points_per_unit=3, category="shoes", priority=5)
    MultiplierFactory(name="Weekend", factor=Decimal("2"), weekdays="67")
    MultiplierFactory(name="Beauty", factor=Decimal("1.5"), category="beauty")
    programme(max_points_per_day=10_000)
    items = [{"sku": f"S{i}", "category": cat, "quantity": 1, "unit_price": "10.00"}
             for i, cat in enumerate(["shoes", "beauty", "tops", "shoes", "misc"])]

    def ingest(order_id):
        return buy(store, member, "50.00", order_id=order_id, items=items)

    # Lock, replay check, scale (3), day cap, entry, lot, balance, purchase, items,
    # webhook endpoints, tiers, qualifying points, and on the first one a promotion (2)
    # with its webhook endpoints.
    with django_assert_max_num_queries(19) as first:
        ingest("first")
    for i in range(40):
        ingest(f"history-{i}")
    with django_assert_max_num_queries(len(first.captured_queries)):
        ingest("after-history")
