"""The nightly points and tier jobs at scale: set-based, the same rows as member by member.

Each comparison runs the reference (the per-member services the jobs used to loop
over) inside a savepoint that is rolled back, then the chunk services on the same data.
"""

import contextlib
import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from loyalty import tasks
from loyalty.models import (
    Member,
    PointsEntry,
    PointsLot,
    TierChange,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from loyalty.services import ledger, tiers
from loyalty.services.audit import audit_ledger
from loyalty.services.purchases import record_purchase, record_refund
from tests.factories import TierFactory, make_member, programme

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


class Rollback(Exception):
    pass


def rolled_back(work, capture):
    """`capture()` after `work()`, both undone."""
    captured = None
    with contextlib.suppress(Rollback), transaction.atomic():
        work()
        captured = capture()
        raise Rollback
    return captured


# --- Release and expiry ----------------------------------------------------------------------


def credit(member_id, points, *, now, pending_days=0, validity_days=365):
    with transaction.atomic():
        member = ledger.lock_member(member_id)
        return ledger.apply_credit(
            member, kind=PointsEntry.Kind.EARN, points=points, reason="test",
            reference="t", now=now, available_at=now + timedelta(days=pending_days),
            expires_at=now + timedelta(days=validity_days), earned=True)


def debit(member_id, points, *, now):
    with transaction.atomic():
        member = ledger.lock_member(member_id)
        ledger.apply_debit(member, kind=PointsEntry.Kind.REDEEM, points=points,
                           reason="test", reference="t", now=now)


def reverse(member_id, entry, points, *, now):
    with transaction.atomic():
        member = ledger.lock_member(member_id)
        ledger.apply_reversal(member, lot=entry.lot, points=points, reason="refund",
                              reference="r", now=now)


def ledger_rows():
    """Everything release and expiry write, without the entries' ids (sequences differ)."""
    entries = list(PointsEntry.objects.order_by("member_id", "id").values_list(
        "member_id", "kind", "points", "balance_after", "lifetime_delta", "reason", "details",
        "reference", "store_id", "created_by_id", "created_at"))
    lots = list(PointsLot.objects.order_by("id").values_list(
        "id", "member_id", "entry_id", "points", "remaining", "spent", "expired", "reversed",
        "clawed_back", "released", "available_at", "expires_at"))
    members = list(Member.objects.order_by("id").values_list(
        "id", "status", "balance", "pending", "lifetime_earned"))
    return entries, lots, members


@pytest.fixture
def due_population(db):
    """Members in every situation release and expiry meet; returns (ids, when they are due)."""
    programme(return_window_days=0)
    start = timezone.now() - 10 * DAY
    at = start + 3 * DAY
    ids = []

    def member():
        ids.append(make_member().pk)
        return ids[-1]

    pending_due = member()
    credit(pending_due, 30, now=start, pending_days=1)
    credit(pending_due, 5, now=start)

    expiring = member()  # expiry order differs from id order; one lot partly spent
    credit(expiring, 40, now=start, validity_days=2)
    credit(expiring, 25, now=start, validity_days=1)
    credit(expiring, 60, now=start, validity_days=300)
    debit(expiring, 30, now=start)

    in_debt = member()  # a refund of spent points, then pending points pay the debt off
    entry = credit(in_debt, 100, now=start)
    debit(in_debt, 80, now=start)
    reverse(in_debt, entry, 100, now=start)
    credit(in_debt, 50, now=start, pending_days=1)
    credit(in_debt, 70, now=start, pending_days=2, validity_days=2)

    released_and_expired = member()  # pending, and past its validity when released
    credit(released_and_expired, 15, now=start, pending_days=1, validity_days=2)

    reversed_pending = member()  # a pending lot fully taken back: released with nothing in it
    entry = credit(reversed_pending, 20, now=start, pending_days=1)
    reverse(reversed_pending, entry, 20, now=start)

    many = member()
    for days in (1, 2, 2, 3, 1):
        credit(many, 7 * days, now=start, validity_days=days)

    nothing_due = member()
    credit(nothing_due, 10, now=start, validity_days=100)

    closed = member()
    Member.objects.filter(pk=closed).update(status=Member.Status.DELETED)
    assert audit_ledger().violations == []
    return ids, at


def reference(ids, at):
    """What the per-member service does (the nightly job's old loop)."""
    for member_id in ledger.members_with_due_points(now=at):
        ledger.bring_member_up_to_date(member_id=member_id, now=at)


def test_the_chunk_writes_the_same_rows_as_the_per_member_service(due_population):
    ids, at = due_population
    expected = rolled_back(lambda: reference(ids, at), ledger_rows)
    before = ledger_rows()
    assert expected != before

    written = ledger.bring_members_up_to_date(member_ids=ids, now=at)

    assert ledger_rows() == expected
    assert written == len(expected[0]) - len(before[0]) > 5
    assert audit_ledger().violations == []


def test_the_chunk_is_idempotent(due_population, django_assert_max_num_queries):
    ids, at = due_population
    ledger.bring_members_up_to_date(member_ids=ids, now=at)
    after = ledger_rows()
    assert ledger.bring_members_up_to_date(member_ids=ids, now=at) == 0
    assert ledger_rows() == after
    assert list(ledger.due_member_chunks(now=at)) == []


@pytest.mark.postgres
def test_on_postgresql_a_chunk_costs_a_few_statements_whatever_its_size(
        due_population, django_assert_max_num_queries):
    ids, at = due_population
    with django_assert_max_num_queries(7):  # savepoint, lock, release, debts, entries, lots
        ledger.bring_members_up_to_date(member_ids=ids, now=at)


class WorkerKilled(Exception):
    pass


def kill_midway(monkeypatch):
    """Make the chunk fail after it has written part of its work."""
    if connection.vendor == "postgresql":
        run = ledger._run

        def failing(statement, params):
            if statement is ledger._EXPIRE_LOTS:  # the expiry entries are written by then
                raise WorkerKilled
            return run(statement, params)

        monkeypatch.setattr(ledger, "_run", failing)
    else:
        apply = ledger.apply_due_changes
        calls = []

        def failing(member, *, now):
            calls.append(member.pk)
            if len(calls) == 3:
                raise WorkerKilled
            return apply(member, now=now)

        monkeypatch.setattr(ledger, "apply_due_changes", failing)


def test_a_chunk_killed_midway_leaves_nothing_and_is_redone_once(due_population, monkeypatch):
    ids, at = due_population
    expected = rolled_back(lambda: reference(ids, at), ledger_rows)
    before = ledger_rows()
    kill_midway(monkeypatch)

    with pytest.raises(WorkerKilled):
        ledger.bring_members_up_to_date(member_ids=ids, now=at)

    assert ledger_rows() == before  # rolled back: no expiry half written
    assert audit_ledger().violations == []
    monkeypatch.undo()
    ledger.bring_members_up_to_date(member_ids=ids, now=at)  # the chunk redelivered
    ledger.bring_members_up_to_date(member_ids=ids, now=at)  # and once more
    assert ledger_rows() == expected  # nothing expired twice
    expiries = PointsEntry.objects.filter(kind=PointsEntry.Kind.EXPIRE)
    assert expiries.values("reference").distinct().count() == expiries.count()
    assert audit_ledger().violations == []


def test_the_task_redelivered_after_a_kill_changes_nothing_more(due_population):
    ids, at = due_population
    with time_machine.travel(at, tick=False):
        assert tasks.update_members_points.apply(args=[ids]).get() == len(ids)
        after = ledger_rows()
        assert tasks.update_members_points.apply(args=[ids]).get() == len(ids)
    assert ledger_rows() == after
    assert audit_ledger().violations == []


def test_due_members_come_in_ordered_chunks_each_once(due_population):
    ids, at = due_population
    due = sorted(ledger.members_with_due_points(now=at))
    chunks = list(ledger.due_member_chunks(now=at, size=2))
    assert [len(chunk) for chunk in chunks[:-1]] == [2] * (len(chunks) - 1)
    assert [member_id for chunk in chunks for member_id in chunk] == due
    assert len(due) == 6


def test_the_dispatcher_sends_the_due_members_in_chunks(due_population, monkeypatch):
    ids, at = due_population
    sent = []
    monkeypatch.setattr(tasks, "CHUNK", 4)
    monkeypatch.setattr(tasks.update_members_points, "delay", sent.append)
    with time_machine.travel(at, tick=False):
        assert tasks.release_pending_points() == 6
    assert [len(chunk) for chunk in sent] == [4, 2]


# --- Tiers -----------------------------------------------------------------------------------


@pytest.fixture
def ladder(db):
    return (TierFactory(code="bronze", name="Bronze", rank=0, threshold=0),
            TierFactory(code="silver", name="Silver", rank=1, threshold=500),
            TierFactory(code="gold", name="Gold", rank=2, threshold=1500))


@pytest.fixture
def tier_population(store, scale, ladder):
    """Members whose tier stays, goes up, goes down, or is not looked at; returns `at`."""
    bronze, silver, gold = ladder
    programme(tier_window_days=365, points_validity_days=800)
    now = timezone.now()
    at = now + 100 * DAY
    orders = iter(range(1000))

    def buy(member, amount, *, days_before_at):
        when = at - timedelta(days=days_before_at)
        return record_purchase(store=store, order_id=str(next(orders)), amount=amount,
                               member=member, occurred_at=when, now=min(when, now)).obj

    stays = make_member()
    buy(stays, "600.00", days_before_at=150)
    out_of_window = make_member()  # silver a year ago: bronze now
    buy(out_of_window, "600.00", days_before_at=366)
    at_the_edge = make_member()  # earned exactly when the window starts: does not count
    buy(at_the_edge, "700.00", days_before_at=365)
    exactly = make_member()
    buy(exactly, "500.00", days_before_at=120)
    refunded = make_member()  # silver at the purchase, 400 after the refund
    record_refund(purchase=buy(refunded, "600.00", days_before_at=110), refund_id="R",
                  amount="200.00", now=now)
    set_too_high = make_member()
    buy(set_too_high, "100.00", days_before_at=110)
    tiers.set_tier(member_id=set_too_high.pk, tier=gold)
    set_too_low = make_member()
    buy(set_too_low, "1600.00", days_before_at=120)
    tiers.set_tier(member_id=set_too_low.pk, tier=bronze)
    no_tier_with_points = make_member()
    buy(no_tier_with_points, "20.00", days_before_at=120)
    Member.objects.filter(pk=no_tier_with_points.pk).update(tier=None)
    no_tier_nothing = make_member()  # never looked at: keeps no tier
    Member.objects.filter(pk=no_tier_nothing.pk).update(tier=None)
    closed = make_member()
    buy(closed, "10.00", days_before_at=120)
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.DELETED, tier=gold)
    merged = make_member()
    Member.objects.filter(pk=merged.pk).update(status=Member.Status.MERGED, merged_into=stays,
                                               tier=silver)
    for _ in range(3):
        make_member()  # new members with the entry tier: nothing to change
    WebhookEndpoint.objects.create(store=store, url="https://shop.example.com/hooks",
                                   events=[WebhookEvent.MEMBER_TIER_CHANGED])
    return at


def tier_rows():
    members = dict(Member.objects.values_list("pk", "tier_id"))
    changes = sorted(TierChange.objects.values_list(
        "member_id", "from_tier_id", "to_tier_id", "reason", "qualifying_value", "at"))
    hooks = sorted((data["member_id"], data["from"], data["to"], data["reason"])
                   for data in (json.loads(body)["data"] for body in WebhookDelivery.objects
                                .filter(event=WebhookEvent.MEMBER_TIER_CHANGED)
                                .values_list("body", flat=True)))
    return members, changes, hooks


def the_old_loop(at):
    """The nightly task before: every active member with a tier or lots, one by one."""
    from django.db.models import Q

    ids = (Member.objects.filter(status=Member.Status.ACTIVE)
           .filter(Q(tier__isnull=False) | Q(lots__isnull=False))
           .values_list("pk", flat=True).distinct().order_by("pk"))
    for member_id in list(ids):
        tiers.reevaluate_tier(member_id=member_id, now=at)


@pytest.mark.parametrize("basis", ["points", "spend"])
def test_the_set_based_reevaluation_changes_what_the_per_member_loop_changed(
        tier_population, basis):
    at = tier_population
    programme(tier_basis=basis)
    before = tier_rows()
    expected = rolled_back(lambda: the_old_loop(at), tier_rows)
    changed_before = {pk for pk, tier in expected[0].items() if before[0][pk] != tier}
    assert len(changed_before) >= 5

    found = [pk for chunk in tiers.members_whose_tier_changes(now=at, size=2) for pk in chunk]
    assert found == sorted(changed_before)  # only those are looked at
    assert sum(tiers.reevaluate_tiers_of(member_ids=chunk, now=at)
               for chunk in tiers.members_whose_tier_changes(now=at, size=2)) == len(found)

    assert tier_rows() == expected  # tiers, history and webhooks alike
    assert len(expected[2]) == len(expected[1]) - len(before[1])
    assert list(tiers.members_whose_tier_changes(now=at)) == []
    assert tiers.reevaluate_tiers_of(member_ids=found, now=at) == 0


def test_the_task_sends_only_the_changing_members_in_chunks(tier_population, monkeypatch):
    at = tier_population
    sent = []
    monkeypatch.setattr(tasks, "CHUNK", 2)
    monkeypatch.setattr(tasks.reevaluate_member_tiers, "delay", sent.append)
    with time_machine.travel(at, tick=False):
        count = tasks.reevaluate_tiers()
    assert count == sum(len(chunk) for chunk in sent) >= 5
    assert all(len(chunk) <= 2 for chunk in sent)
    monkeypatch.undo()
    with time_machine.travel(at, tick=False):
        assert sum(tasks.reevaluate_member_tiers.apply(args=[chunk]).get()
                   for chunk in sent) == count
        assert tasks.reevaluate_tiers.apply().get() == 0


def test_finding_the_changes_costs_the_same_queries_whatever_the_members(
        tier_population, django_assert_max_num_queries):
    at = tier_population
    with django_assert_max_num_queries(6):
        list(tiers.members_whose_tier_changes(now=at))
    for _ in range(20):
        make_member()
    with django_assert_max_num_queries(6):
        list(tiers.members_whose_tier_changes(now=at))


def test_a_chunk_of_reevaluations_locks_its_members_and_skips_closed_ones(tier_population):
    at = tier_population
    closed = Member.objects.get(status=Member.Status.DELETED)
    assert tiers.reevaluate_tiers_of(member_ids=[closed.pk], now=at) == 0
    closed.refresh_from_db()
    assert closed.tier.code == "gold"  # untouched: closed members are not re-evaluated
    assert tiers.qualifying_value(member=closed, now=at) == Decimal(10)
