from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from loyalty.models import Member, PointsEntry, PointsLot
from loyalty.services import ledger
from loyalty.services.errors import InsufficientPoints, Invalid, MemberClosed
from tests.factories import make_member, programme

pytestmark = pytest.mark.django_db


def credit(member, points, *, now=None, pending_days=0, validity_days=365):
    now = now or timezone.now()
    with transaction.atomic():
        locked = ledger.lock_member(member.pk)
        return ledger.apply_credit(
            locked, kind=PointsEntry.Kind.EARN, points=points, reason="test", reference="t",
            now=now, available_at=now + timedelta(days=pending_days),
            expires_at=now + timedelta(days=validity_days), earned=True)


def debit(member, points, *, now=None, allow_debt=False):
    with transaction.atomic():
        locked = ledger.lock_member(member.pk)
        return ledger.apply_debit(locked, kind=PointsEntry.Kind.REDEEM, points=points,
                                  reason="test", reference="t", now=now or timezone.now(),
                                  allow_debt=allow_debt)


def test_credit_writes_an_entry_a_lot_and_the_balance(member, ledger_is_sound):
    entry = credit(member, 120)
    member.refresh_from_db()
    assert (member.balance, member.pending, member.lifetime_earned) == (120, 0, 120)
    assert entry.balance_after == 120
    assert entry.lot.remaining == 120
    ledger_is_sound()


def test_pending_credit_is_not_spendable_until_the_return_window_ends(member, ledger_is_sound):
    credit(member, 50, pending_days=14)
    member.refresh_from_db()
    assert (member.balance, member.pending) == (0, 50)
    with pytest.raises(InsufficientPoints):
        debit(member, 10)
    with time_machine.travel(timezone.now() + timedelta(days=15)):
        debit(member, 10)
    member.refresh_from_db()
    assert (member.balance, member.pending) == (40, 0)
    ledger_is_sound()


def test_debits_consume_the_first_expiring_lot_first(member, ledger_is_sound):
    now = timezone.now()
    late = credit(member, 100, now=now, validity_days=300)
    early = credit(member, 100, now=now, validity_days=30)
    debit(member, 150, now=now)
    assert PointsLot.objects.get(entry=early).remaining == 0
    assert PointsLot.objects.get(entry=late).remaining == 50
    ledger_is_sound()


def test_a_debit_larger_than_the_balance_is_refused_and_changes_nothing(member):
    credit(member, 30)
    with pytest.raises(InsufficientPoints) as error:
        debit(member, 31)
    assert error.value.code == "insufficient_points"
    member.refresh_from_db()
    assert member.balance == 30
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_expiry_removes_only_what_is_left_of_due_lots_and_is_idempotent(member, ledger_is_sound):
    now = timezone.now()
    credit(member, 100, now=now, validity_days=10)
    credit(member, 40, now=now, validity_days=400)
    debit(member, 30, now=now)
    later = now + timedelta(days=11)
    first = ledger.bring_member_up_to_date(member_id=member.pk, now=later)
    again = ledger.bring_member_up_to_date(member_id=member.pk, now=later)
    assert [e.points for e in first] == [-70]
    assert again == []
    member.refresh_from_db()
    assert member.balance == 40
    assert member.lifetime_earned == 140  # expiry does not undo what was earned
    ledger_is_sound()


def test_expired_points_cannot_be_spent_even_before_the_task_runs(member):
    now = timezone.now()
    credit(member, 100, now=now, validity_days=10)
    with pytest.raises(InsufficientPoints):
        debit(member, 50, now=now + timedelta(days=10, seconds=1))


def test_credit_pays_off_a_debt_first(member, ledger_is_sound):
    credit(member, 10)
    debit(member, 25, allow_debt=True)
    member.refresh_from_db()
    assert member.balance == -15
    entry = credit(member, 20)
    member.refresh_from_db()
    assert member.balance == 5
    assert entry.lot.remaining == 5
    assert PointsEntry.objects.filter(member=member, kind="redeem").exists()


@pytest.mark.django_db(transaction=True)
def test_ledger_changes_outside_a_transaction_are_refused():
    member = make_member()
    with pytest.raises(RuntimeError):
        ledger.apply_credit(member, kind="earn", points=1, reason="x", reference="x",
                            now=timezone.now())


@pytest.mark.parametrize("points", [0, -5, 10**9, 1.5, True])
def test_credit_refuses_points_that_are_not_a_sane_positive_integer(member, points):
    with pytest.raises(Invalid), transaction.atomic():
        ledger.apply_credit(ledger.lock_member(member.pk), kind="earn", points=points,
                            reason="x", reference="x", now=timezone.now())


def test_adjust_points_needs_a_reason_and_goes_through_the_ledger(member, ledger_is_sound):
    with pytest.raises(Invalid):
        ledger.adjust_points(member_id=member.pk, points=10, reason="  ")
    entry = ledger.adjust_points(member_id=member.pk, points=25, reason="Goodwill")
    assert (entry.kind, entry.points, entry.reason) == ("adjust", 25, "Goodwill")
    ledger.adjust_points(member_id=member.pk, points=-5, reason="Correction")
    member.refresh_from_db()
    assert member.balance == 20
    assert member.lifetime_earned == 0  # adjustments are not earnings
    with pytest.raises(InsufficientPoints):
        ledger.adjust_points(member_id=member.pk, points=-21, reason="Too much")
    ledger_is_sound()


def test_a_merged_member_resolves_to_the_survivor_and_a_deleted_one_is_closed(db):
    survivor, duplicate = make_member(), make_member()
    Member.objects.filter(pk=duplicate.pk).update(status="merged", merged_into=survivor)
    with transaction.atomic():
        assert ledger.lock_member(duplicate.pk).pk == survivor.pk
    Member.objects.filter(pk=survivor.pk).update(status="deleted")
    with pytest.raises(MemberClosed), transaction.atomic():
        ledger.lock_member(survivor.pk)


def test_members_with_due_points_lists_each_member_once(db):
    programme(return_window_days=0)
    now = timezone.now()
    a, b, c = make_member(), make_member(), make_member()
    credit(a, 10, now=now, pending_days=1)
    credit(a, 10, now=now, validity_days=1)
    credit(b, 10, now=now, validity_days=100)
    credit(c, 10, now=now, validity_days=1)
    due = sorted(ledger.members_with_due_points(now=now + timedelta(days=2)))
    assert due == sorted([a.pk, c.pk])
