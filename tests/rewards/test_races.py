"""Redemptions and vouchers under real concurrency: row locks, not luck, keep the counts
exact. PostgreSQL only: SQLite serialises every writer, so it cannot show these races."""


import pytest

from loyalty.models import Member, PointsEntry
from loyalty.services import ledger
from loyalty.services.audit import audit_ledger
from loyalty.services.errors import InsufficientPoints, OutOfStock, VoucherUsed
from loyalty.services.recorded import Recorded
from rewards.models import Redemption, Voucher
from rewards.services import cancel_voucher, redeem_reward, redeem_voucher
from tests.concurrency import run_at_once
from tests.factories import StoreFactory, make_member
from tests.rewards.helpers import reward

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def give(member, points):
    ledger.adjust_points(member_id=member.pk, points=points, reason="start")


def of_type(results, kind):
    return [result for result in results if isinstance(result, kind)]


def test_fifty_redemptions_at_once_on_a_balance_for_ten_make_exactly_ten():
    member = make_member()
    give(member, 1000)
    item = reward(points_cost=100)

    def spend(i):
        return redeem_reward(member=member, reward_id=item.pk, redemption_id=f"R{i}")

    results = run_at_once(50, spend)
    assert len(of_type(results, Recorded)) == 10, results
    assert len(of_type(results, InsufficientPoints)) == 40, results
    member.refresh_from_db()
    assert member.balance == 0
    assert Voucher.objects.filter(member=member).count() == 10
    assert PointsEntry.objects.filter(member=member, kind="redeem").count() == 10
    assert audit_ledger().violations == []


def test_thirty_five_members_racing_for_a_stock_of_twenty_five_get_exactly_twenty_five():
    item = reward(points_cost=50, stock=25)
    people = [make_member() for _ in range(35)]
    for person in people:
        give(person, 100)

    def grab(i):
        return redeem_reward(member=people[i], reward_id=item.pk, redemption_id=f"S{i}")

    results = run_at_once(35, grab)
    assert len(of_type(results, Recorded)) == 25, results
    assert len(of_type(results, OutOfStock)) == 10, results
    item.refresh_from_db()
    assert item.stock == 0
    assert Voucher.objects.filter(reward=item).count() == 25
    assert sorted(Member.objects.filter(pk__in=[p.pk for p in people])
                  .values_list("balance", flat=True)) == [50] * 25 + [100] * 10
    assert audit_ledger().violations == []


def test_one_voucher_used_for_thirty_orders_at_once_is_used_once():
    store = StoreFactory(code="paris")
    member = make_member()
    give(member, 100)
    voucher = redeem_reward(member=member, reward_id=reward().pk,
                            redemption_id="R1").obj.voucher

    def use(i):
        return redeem_voucher(code=voucher.code, order_id=f"ORDER-{i}", store=store)

    results = run_at_once(30, use)
    used = [result for result in of_type(results, Recorded) if result.created]
    assert len(used) == 1 and len(of_type(results, Recorded)) == 1, results
    assert len(of_type(results, VoucherUsed)) == 29, results
    voucher.refresh_from_db()
    assert voucher.status == "used" and voucher.used_order_id == used[0].obj.used_order_id
    assert audit_ledger().violations == []


def test_the_same_redemption_from_twenty_threads_spends_once():
    member = make_member()
    give(member, 1000)
    item = reward(points_cost=100, stock=5)

    def retry(i):
        return redeem_reward(member=member, reward_id=item.pk, redemption_id="SAME")

    results = run_at_once(20, retry)
    assert all(isinstance(result, Recorded) for result in results), results
    assert sum(result.created for result in results) == 1
    assert {result.obj.pk for result in results} == {Redemption.objects.get().pk}
    member.refresh_from_db()
    item.refresh_from_db()
    assert (member.balance, item.stock) == (900, 4)
    assert audit_ledger().violations == []


def test_using_and_cancelling_one_voucher_at_once_lets_only_one_happen():
    store = StoreFactory(code="paris")
    member = make_member()
    give(member, 100)
    item = reward(stock=3)
    voucher = redeem_reward(member=member, reward_id=item.pk, redemption_id="R1").obj.voucher

    def use_or_cancel(i):
        if i % 2:
            return cancel_voucher(voucher_id=voucher.pk, member_id=member.pk)
        return redeem_voucher(code=voucher.code, order_id=f"ORDER-{i}", store=store)

    results = run_at_once(20, use_or_cancel)
    assert not [r for r in results if isinstance(r, Exception)
                and getattr(r, "code", "") not in {"voucher_used", "voucher_cancelled"}], results
    voucher.refresh_from_db()
    member.refresh_from_db()
    item.refresh_from_db()
    if voucher.status == "used":
        assert (member.balance, item.stock) == (0, 2)
        assert not PointsEntry.objects.filter(kind="cancel").exists()
    else:
        assert voucher.status == "cancelled"
        assert (member.balance, item.stock) == (100, 3)
        assert PointsEntry.objects.filter(kind="cancel").count() == 1
    assert audit_ledger().violations == []


def test_cancellations_and_redemptions_of_one_stocked_reward_do_not_deadlock():
    item = reward(points_cost=10, stock=20)
    people = [make_member() for _ in range(20)]
    for person in people:
        give(person, 30)
    held = [redeem_reward(member=person, reward_id=item.pk, redemption_id=f"H{i}").obj.voucher
            for i, person in enumerate(people[:10])]

    def churn(i):
        if i < 10:
            return cancel_voucher(voucher_id=held[i].pk, member_id=people[i].pk)
        return redeem_reward(member=people[i], reward_id=item.pk, redemption_id=f"N{i}")

    results = run_at_once(20, churn)
    assert not of_type(results, Exception), results
    item.refresh_from_db()
    assert item.stock == 20 - 10 + 10 - 10
    assert Voucher.objects.filter(status="issued").count() == 10
    assert audit_ledger().violations == []
