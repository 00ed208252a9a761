"""Row locks and idempotency under real concurrency. PostgreSQL only: SQLite
serialises every writer, so it cannot show these races."""


import pytest
from django.db import connection

from loyalty.models import MemberMerge, PointsEntry, Purchase
from loyalty.services import ledger, members, purchases
from loyalty.services.audit import audit_ledger
from loyalty.services.errors import InsufficientPoints
from tests.concurrency import run_at_once
from tests.factories import EarningRuleFactory, StoreFactory, make_member, programme

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup_scale(db):
    programme(return_window_days=0)
    EarningRuleFactory(name="1 point per euro", points_per_unit=1)
    return StoreFactory(code="paris")


def test_fifty_threads_debiting_one_member_never_take_the_balance_below_zero(setup_scale):
    member = make_member()
    ledger.adjust_points(member_id=member.pk, points=100, reason="start")

    def debit(i):
        return ledger.adjust_points(member_id=member.pk, points=-7, reason=f"debit {i}")

    results = run_at_once(50, debit)
    ok = [r for r in results if isinstance(r, PointsEntry)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(ok) == 14 and len(refused) == 36, results
    member.refresh_from_db()
    assert member.balance == 100 - 14 * 7
    assert audit_ledger().violations == []


def test_the_same_order_from_twenty_threads_is_credited_once(setup_scale):
    store = setup_scale
    member = make_member()

    def ingest(i):
        return purchases.record_purchase(store=store, order_id="A1043", amount="37.50",
                                         member=member)

    results = run_at_once(20, ingest)
    assert all(isinstance(r, purchases.Recorded) for r in results), results
    assert sum(r.created for r in results) == 1
    assert {r.obj.pk for r in results} == {Purchase.objects.get().pk}
    member.refresh_from_db()
    assert member.balance == 37
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_the_same_order_for_two_members_at_once_is_one_purchase_and_one_conflict(setup_scale):
    store = setup_scale
    people = [make_member(), make_member()]

    def ingest(i):
        return purchases.record_purchase(store=store, order_id="A1", amount="10.00",
                                         member=people[i % 2])

    results = run_at_once(10, ingest)
    assert Purchase.objects.count() == 1
    winner = Purchase.objects.get().member_id
    for person, result in zip(people * 5, results, strict=True):
        if person.pk == winner:
            assert isinstance(result, purchases.Recorded)
        else:
            assert getattr(result, "code", None) == "order_conflict", result


def test_opposite_merges_at_once_do_not_deadlock(setup_scale):
    a, b = make_member(), make_member()

    def merge(i):
        first, second = (a, b) if i % 2 else (b, a)
        return members.merge_members(survivor_id=first.pk, duplicate_id=second.pk)

    results = run_at_once(6, merge)
    # One merge happens; the same merge again is a no-op returning the same survivor;
    # the opposite one is refused. Nobody waits on a deadlock.
    survivors = {r.pk for r in results if not isinstance(r, Exception)}
    assert len(survivors) == 1
    assert all(getattr(r, "code", None) == "merge_not_allowed"
               for r in results if isinstance(r, Exception)), results
    assert MemberMerge.objects.count() == 1
    assert audit_ledger().violations == []


def test_the_database_is_postgresql():
    assert connection.vendor == "postgresql"


def test_the_same_refund_from_twenty_threads_reverses_points_once(setup_scale):
    store = setup_scale
    member = make_member()
    purchase = purchases.record_purchase(store=store, order_id="A1", amount="80.00",
                                         member=member).obj

    def refund(i):
        return purchases.record_refund(purchase=purchase, refund_id="R1", amount="40.00")

    results = run_at_once(20, refund)
    assert sum(r.created for r in results) == 1, results
    member.refresh_from_db()
    assert member.balance == 40
    assert audit_ledger().violations == []


def test_the_same_review_from_ten_threads_is_posted_and_credited_once(setup_scale):
    from loyalty.models import ActionEvent, Review
    from loyalty.services import reviews
    from tests.factories import ActionRuleFactory

    ActionRuleFactory(event_type="review_posted", points=10)
    member = make_member()
    purchase = purchases.record_purchase(store=setup_scale, order_id="A1", amount="20.00",
                                         member=member).obj

    def post(i):
        return reviews.post_review(member=member, purchase_id=purchase.pk, rating=2,
                                   comment="Slow")

    results = run_at_once(10, post)
    assert all(isinstance(r, reviews.Recorded) for r in results), results
    assert sum(r.created for r in results) == 1
    assert Review.objects.count() == 1 and ActionEvent.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 20 + 10
    assert audit_ledger().violations == []


def test_two_purchases_at_once_take_the_next_purchase_bonus_once(setup_scale):
    from datetime import timedelta

    from django.utils import timezone

    from loyalty.models import Journey, PurchaseBonus
    from loyalty.services import bonuses

    store = setup_scale
    journey = Journey.objects.get(kind=Journey.Kind.SECOND_PURCHASE)
    journey.bonus_points = 100
    journey.active = True
    journey.save()
    member = make_member()
    now = timezone.now()
    bonuses.grant_bonuses(member_keys=[(member.pk, f"second_purchase:{member.pk}")],
                          factor=None, points=100, starts_at=now - timedelta(minutes=1),
                          expires_at=now + timedelta(days=7))

    def buy(i):
        return purchases.record_purchase(store=store, order_id=f"B{i}", amount="10.00",
                                         member=member)

    results = run_at_once(2, buy)
    assert all(isinstance(r, purchases.Recorded) for r in results), results
    earned = sorted(r.obj.points_earned for r in results)
    assert earned == [10, 110]
    bonus = PurchaseBonus.objects.get()
    assert bonus.purchase_id in {r.obj.pk for r in results if r.obj.points_earned == 110}
    member.refresh_from_db()
    assert member.balance == 120
    assert audit_ledger().violations == []
