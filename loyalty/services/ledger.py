"""The points ledger: the only code that changes a member's points.

Every change is a `PointsEntry`, written in the caller's transaction, with the
member row locked (`select_for_update`) for the whole of it. Credits create a
`PointsLot` with its own pending and expiry dates; debits consume spendable
lots first-expiring-first. A spendable balance below zero (a debt) can only
come from a refund of points already spent; later credits pay it off first.

The functions prefixed `apply_` work inside a transaction on a member that
the caller has locked with `lock_member`; the other public functions are
complete services (one transaction each).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from loyalty.models import Member, PointsEntry, PointsLot
from loyalty.services import history
from loyalty.services.earning import all_tiers, current_programme
from loyalty.services.errors import InsufficientPoints, Invalid, MemberClosed, NotFound

Kind = PointsEntry.Kind
MAX_POINTS_PER_ENTRY = 10_000_000
# A manual adjustment: its words are the note staff typed (kept in `reason`).
ADJUSTMENT = {"event": history.ADJUSTMENT}


def lock_member(member_id: int, *, follow_merges: bool = True) -> Member:
    """Lock and return the member row; a merged member resolves to its survivor.

    Must be called inside `transaction.atomic()`.
    """
    _require_transaction()
    seen = set()
    while True:
        try:
            member = Member.objects.select_for_update().get(pk=member_id)
        except Member.DoesNotExist:
            raise NotFound(fields={"member_id": member_id}) from None
        if member.status == Member.Status.MERGED and follow_merges and member.merged_into_id:
            if member.merged_into_id in seen:  # pragma: no cover - a cycle is a data bug
                raise MemberClosed()
            seen.add(member.pk)
            member_id = member.merged_into_id
            continue
        if not member.is_active:
            raise MemberClosed(fields={"member_id": member.pk})
        _attach_tier(member)
        return member


def _attach_tier(member: Member) -> None:
    """Give the member its tier from the configuration cache rather than a join.

    Tiers are read on every purchase (multiplier, promotion) and change rarely; the
    cache drops them when one is saved. A tier missing from it loads lazily as usual.
    """
    if member.tier_id is None:
        return
    tier = next((tier for tier in all_tiers() if tier.pk == member.tier_id), None)
    if tier is not None:
        Member.tier.field.set_cached_value(member, tier)


def _is_points(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and 0 < value <= MAX_POINTS_PER_ENTRY)


def _require_transaction():
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Ledger changes must run inside transaction.atomic().")


def _new_entry(member: Member, *, kind: str, points: int, reason: str, reference: str, now,
               store=None, by=None, lifetime_delta: int = 0, details: dict | None = None
               ) -> PointsEntry:
    """The entry for a change just applied to `member` (unsaved): its balance after it."""
    return PointsEntry(
        member=member, kind=kind, points=points,
        balance_after=member.balance + member.pending, lifetime_delta=lifetime_delta,
        reason=reason[:255], details=details or {}, reference=reference[:120], store=store,
        created_by=by if (by is not None and by.is_authenticated) else None, created_at=now)


def _entry(member: Member, **fields) -> PointsEntry:
    entry = _new_entry(member, **fields)
    entry.save(force_insert=True)
    return entry


def _save_points(member: Member) -> None:
    member.save(update_fields=["balance", "pending", "lifetime_earned", "updated_at"])


def _settle_debt(member: Member) -> None:
    """Keep spendable lots equal to max(balance, 0): a debt is paid off from the lots.

    The balance itself does not change; only where the points sit does.
    """
    lots = _spendable_lots(member)
    excess = sum(lot.remaining for lot in lots) - max(member.balance, 0)
    for lot in lots:
        if excess <= 0:
            break
        take = min(lot.remaining, excess)
        lot.remaining -= take
        lot.spent += take
        excess -= take
        lot.save(update_fields=["remaining", "spent"])


def apply_credit(member: Member, *, kind: str, points: int, reference: str,
                 now: datetime, reason: str = "", details: dict | None = None,
                 available_at: datetime | None = None,
                 expires_at: datetime | None = None, qualifying: bool = False,
                 earned: bool = False, store=None, by=None) -> PointsEntry:
    """Credit `points` to a locked member as a new lot. Returns the entry.

    `details`: what caused it (loyalty/services/history.py renders it in the reader's
    language); `reason`: only a note staff typed themselves.
    """
    _require_transaction()
    if not _is_points(points):
        raise Invalid(fields={"points": "must be a positive whole number"})
    if expires_at is None:
        expires_at = now + timedelta(days=current_programme().points_validity_days)
    available_at = available_at or now
    released = available_at <= now
    if released:
        member.balance += points
    else:
        member.pending += points
    if earned:
        member.lifetime_earned += points
    entry = _entry(member, kind=kind, points=points, reason=reason, reference=reference,
                   now=now, store=store, by=by, lifetime_delta=points if earned else 0,
                   details=details)
    lot = PointsLot(member=member, entry=entry, points=points, remaining=points,
                    qualifying=qualifying, earned_at=now, available_at=available_at,
                    released=released, expires_at=expires_at)
    if released and member.balance - points < 0:
        # The member owed points (a refund of spent points): this credit pays it off.
        paid = min(points, -(member.balance - points))
        lot.remaining -= paid
        lot.spent += paid
    lot.save()
    _save_points(member)
    if released and expires_at <= now:
        # Historical points already past their validity: earned, and expired at once.
        apply_due_changes(member, now=now)
    return entry


def _spendable_lots(member: Member):
    return list(PointsLot.objects.filter(member=member, released=True, remaining__gt=0)
                .order_by("expires_at", "id"))


def apply_debit(member: Member, *, kind: str, points: int, reference: str,
                now: datetime, reason: str = "", details: dict | None = None, store=None,
                by=None, allow_debt: bool = False) -> PointsEntry:
    """Debit `points` from a locked member's spendable lots, first-expiring-first.

    Raises InsufficientPoints unless `allow_debt` (refunds of spent points only).
    """
    _require_transaction()
    if not _is_points(points):
        raise Invalid(fields={"points": "must be a positive whole number"})
    apply_due_changes(member, now=now)
    if points > member.balance and not allow_debt:
        raise InsufficientPoints(fields={"balance": member.balance, "required": points})
    to_take = points
    for lot in _spendable_lots(member):
        if to_take <= 0:
            break
        take = min(lot.remaining, to_take)
        lot.remaining -= take
        lot.spent += take
        to_take -= take
        lot.save(update_fields=["remaining", "spent"])
    member.balance -= points
    entry = _entry(member, kind=kind, points=-points, reason=reason, reference=reference,
                   now=now, store=store, by=by, details=details)
    _save_points(member)
    return entry


def apply_due_changes(member: Member, *, now: datetime) -> list[PointsEntry]:
    """Release pending lots whose return window has passed, then expire what is due.

    Idempotent: what is released or expired is never touched again.
    """
    _require_transaction()
    due = list(PointsLot.objects.filter(member=member, released=False, available_at__lte=now)
               .order_by("expires_at", "id"))
    if due:
        for lot in due:
            member.pending -= lot.remaining
            member.balance += lot.remaining
            lot.released = True
            lot.save(update_fields=["released"])
        _settle_debt(member)
        _save_points(member)
    expiring = list(PointsLot.objects.filter(member=member, released=True, remaining__gt=0,
                                             expires_at__lte=now).order_by("expires_at", "id"))
    entries = []
    for lot in expiring:
        points = lot.remaining
        lot.expired += points
        lot.remaining = 0
        member.balance -= points
        entries.append(_new_entry(
            member, kind=Kind.EXPIRE, points=-points, reason="",
            details={"event": history.EXPIRY, "lot_id": lot.pk,
                     "earned_on": timezone.localdate(lot.earned_at).isoformat()},
            reference=f"lot:{lot.pk}", now=now))
    if entries:
        # One entry per lot, in the lots' order (so in id order), each with the running
        # balance after it, written together; the lots and the member likewise.
        PointsLot.objects.bulk_update(expiring, ["remaining", "expired"])
        entries = PointsEntry.objects.bulk_create(entries)
        _save_points(member)
    return entries


def apply_reversal(member: Member, *, lot: PointsLot | None, points: int, reference: str,
                   now: datetime, reason: str = "", details: dict | None = None, store=None,
                   by=None) -> PointsEntry | None:
    """Take back `points` that `lot` earned (a refund).

    Points still in the lot are taken from it. Points the member already spent
    are taken from the balance, which may go below zero. Points that already
    expired are not taken again: the member has lost them once.
    """
    _require_transaction()
    if points <= 0:
        return None
    apply_due_changes(member, now=now)
    from_lot = from_balance = 0
    if lot is not None:
        lot.refresh_from_db()
        from_lot = min(lot.remaining, points)
        from_balance = min(points - from_lot, lot.spent - lot.clawed_back)
        lot.remaining -= from_lot
        lot.reversed += from_lot
        lot.clawed_back += from_balance
        lot.save(update_fields=["remaining", "reversed", "clawed_back"])
        if lot.released:
            member.balance -= from_lot
        else:
            member.pending -= from_lot
    total = from_lot + from_balance
    if total == 0:
        return None
    if from_balance:
        to_take = from_balance
        for other in _spendable_lots(member):
            if to_take <= 0:
                break
            take = min(other.remaining, to_take)
            other.remaining -= take
            other.spent += take
            to_take -= take
            other.save(update_fields=["remaining", "spent"])
        member.balance -= from_balance
    member.lifetime_earned -= total
    entry = _entry(member, kind=Kind.REFUND, points=-total, reason=reason, reference=reference,
                   now=now, store=store, by=by, lifetime_delta=-total, details=details)
    _save_points(member)
    return entry


@dataclass(frozen=True)
class Transfer:
    points: int
    lots: int


def apply_transfer(*, source: Member, target: Member, reference: str, now, reason: str = "",
                   details: dict | None = None, by=None) -> Transfer:
    """Move every lot and point of `source` to `target` (a merge). Both locked."""
    _require_transaction()
    lot_count = PointsLot.objects.filter(member=source).update(member=target)
    total = source.balance + source.pending
    lifetime = source.lifetime_earned
    if total or lifetime or source.balance:
        target.balance += source.balance
        target.pending += source.pending
        target.lifetime_earned += lifetime
        source.balance = source.pending = source.lifetime_earned = 0
        _entry(source, kind=Kind.MERGE, points=-total, reason=reason, reference=reference,
               now=now, by=by, lifetime_delta=-lifetime, details=details)
        _save_points(source)
        _entry(target, kind=Kind.MERGE, points=total, reason=reason, reference=reference,
               now=now, by=by, lifetime_delta=lifetime, details=details)
        _settle_debt(target)
        _save_points(target)
    return Transfer(points=total, lots=lot_count)


# --- Complete services -------------------------------------------------------------------


def adjust_points(*, member_id: int, points: int, reason: str, by=None, store=None,
                  now: datetime | None = None) -> PointsEntry:
    """A manual correction by staff. Credits are spendable at once; debits need the balance.

    Raises Invalid without a reason or for zero points, InsufficientPoints when
    a debit is larger than the spendable balance.
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise Invalid(fields={"reason": "a reason is required"})
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise Invalid(fields={"points": "must be a non-zero whole number"})
    with transaction.atomic():
        member = lock_member(member_id)
        if points > 0:
            return apply_credit(member, kind=Kind.ADJUST, points=points, reason=reason,
                                details=dict(ADJUSTMENT), reference=f"adjust:{member.pk}",
                                now=now, store=store, by=by)
        return apply_debit(member, kind=Kind.ADJUST, points=-points, reason=reason,
                           details=dict(ADJUSTMENT), reference=f"adjust:{member.pk}",
                           now=now, store=store, by=by)


def bring_member_up_to_date(*, member_id: int, now: datetime | None = None) -> list[PointsEntry]:
    """Release pending points that are due and expire points that are due, for one member."""
    now = now or timezone.now()
    with transaction.atomic():
        member = lock_member(member_id)
        return apply_due_changes(member, now=now)


def members_with_due_points(*, now: datetime | None = None):
    """Ids of members who have pending points to release or points to expire.

    Two scans of partial indexes (lot_pending_release, lot_open_expiry) whose union
    removes the duplicates: it reads the due lots only, never a join over all of them.
    """
    now = now or timezone.now()
    pending = PointsLot.objects.filter(released=False, available_at__lte=now)
    expiring = PointsLot.objects.filter(released=True, remaining__gt=0, expires_at__lte=now)
    return (pending.order_by().values_list("member_id", flat=True)
            .union(expiring.order_by().values_list("member_id", flat=True)))


def due_member_chunks(*, now: datetime | None = None, size: int = 1000) -> Iterator[list[int]]:
    """The ids of `members_with_due_points`, in order, `size` at a time.

    Streamed (a server-side cursor on PostgreSQL): memory holds one chunk, however
    many members are due.
    """
    ids = members_with_due_points(now=now).order_by("member_id")
    chunk: list[int] = []
    for member_id in ids.iterator(chunk_size=size):
        chunk.append(member_id)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def bring_members_up_to_date(*, member_ids: Sequence[int], now: datetime | None = None) -> int:
    """Release and expire what is due for these members: all of them or none (one transaction).

    What `apply_due_changes` does member by member, the same rows: on PostgreSQL a
    few set-based statements for the whole chunk, the members locked first (in id
    order, as `lock_member` would); elsewhere member by member through the ORM.
    Members who are not active are skipped (they hold no lots). Idempotent: run
    again, it finds nothing due and writes nothing. Returns the expiry entries written.
    """
    now = now or timezone.now()
    ids = sorted({int(member_id) for member_id in member_ids})
    if not ids:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _due_changes_set_based(ids, now=now)
        return _due_changes_member_by_member(ids, now=now)


def _due_changes_member_by_member(ids: list[int], *, now: datetime) -> int:
    members = (Member.objects.select_for_update()
               .filter(pk__in=ids, status=Member.Status.ACTIVE).order_by("pk"))
    return sum(len(apply_due_changes(member, now=now)) for member in members)


# The set-based form of apply_due_changes, for a chunk of members (PostgreSQL). Each
# statement works on the locked members' lots, in the order the ORM path uses
# (expires_at, id), so that the entries, lots and balances are the same rows. Every
# table is reached through the chunk's ids (indexes), never joined whole.
_LOCK = """
SELECT id FROM loyalty_member WHERE id = ANY(%(ids)s::bigint[]) AND status = %(active)s
ORDER BY id FOR UPDATE
"""

# Pending lots whose return window has passed become spendable. Returns the members
# who owed points before (a refund of spent points): the release pays that off.
_RELEASE = """
WITH released AS (
    UPDATE loyalty_pointslot SET released = true
    WHERE member_id = ANY(%(ids)s::bigint[]) AND NOT released AND available_at <= %(now)s
    RETURNING member_id, remaining
)
UPDATE loyalty_member m
SET pending = m.pending - r.points, balance = m.balance + r.points, updated_at = %(at)s
FROM (SELECT member_id, sum(remaining) AS points FROM released GROUP BY member_id) r
WHERE m.id = r.member_id AND m.id = ANY(%(ids)s::bigint[])
RETURNING m.id, m.balance - r.points < 0
"""

# _settle_debt for those members: spendable lots above max(balance, 0) are taken
# first-expiring-first. (The lots of a member who owed nothing already add up to the
# balance: the release adds as much to both, so there is nothing to settle.)
_SETTLE_DEBTS = """
WITH spendable AS (
    SELECT l.id, l.remaining,
           sum(l.remaining) OVER (PARTITION BY l.member_id) - greatest(m.balance, 0) AS excess,
           sum(l.remaining) OVER (PARTITION BY l.member_id ORDER BY l.expires_at, l.id
                                  ROWS UNBOUNDED PRECEDING) - l.remaining AS before
    FROM loyalty_pointslot l JOIN loyalty_member m ON m.id = l.member_id
    WHERE l.member_id = ANY(%(debtors)s::bigint[]) AND m.id = ANY(%(debtors)s::bigint[])
          AND l.released AND l.remaining > 0
)
UPDATE loyalty_pointslot l
SET remaining = l.remaining - s.take, spent = l.spent + s.take
FROM (SELECT id, least(remaining, excess - before) AS take FROM spendable
      WHERE excess > before) s
WHERE l.id = s.id AND l.member_id = ANY(%(debtors)s::bigint[])
"""

_EXPIRING = """
WHERE member_id = ANY(%(ids)s::bigint[]) AND released AND remaining > 0
      AND expires_at <= %(now)s
"""

# One expiry entry per lot, each with the running total after it.
_EXPIRY_ENTRIES = """
INSERT INTO loyalty_pointsentry (member_id, kind, points, balance_after, lifetime_delta,
                                 reason, details, reference, store_id, created_by_id,
                                 created_at)
SELECT d.member_id, %(kind)s, -d.remaining, m.balance + m.pending - d.cumulated, 0, '',
       jsonb_build_object('event', %(event)s, 'lot_id', d.id, 'earned_on',
                          to_char(d.earned_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD')),
       'lot:' || d.id, NULL, NULL, %(now)s
FROM (SELECT id, member_id, remaining, earned_at, expires_at,
             sum(remaining) OVER (PARTITION BY member_id ORDER BY expires_at, id
                                  ROWS UNBOUNDED PRECEDING) AS cumulated
      FROM loyalty_pointslot """ + _EXPIRING + """) d
JOIN loyalty_member m ON m.id = d.member_id AND m.id = ANY(%(ids)s::bigint[])
ORDER BY d.member_id, d.expires_at, d.id
"""  # noqa: S608 - constant SQL; the values are parameters

# Then the lots lose what expired, and the balances with them (both parts of the
# statement see the lots as they were before it).
_EXPIRE_LOTS = """
WITH due AS (SELECT member_id, sum(remaining) AS points FROM loyalty_pointslot
             """ + _EXPIRING + """ GROUP BY member_id),
expired AS (UPDATE loyalty_pointslot SET expired = expired + remaining, remaining = 0
            """ + _EXPIRING + """)
UPDATE loyalty_member m SET balance = m.balance - d.points, updated_at = %(at)s
FROM due d WHERE m.id = d.member_id AND m.id = ANY(%(ids)s::bigint[])
"""  # noqa: S608 - constant SQL; the values are parameters


def _run(statement: str, params: dict) -> tuple[list[tuple], int]:
    """Rows (when the statement returns some) and the row count."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return (cursor.fetchall() if cursor.description else []), cursor.rowcount


def _due_changes_set_based(ids: list[int], *, now: datetime) -> int:
    _require_transaction()
    params = {"ids": ids, "active": Member.Status.ACTIVE, "now": now, "at": timezone.now(),
              "kind": Kind.EXPIRE, "event": history.EXPIRY,
              "tz": timezone.get_current_timezone_name()}
    locked, _count = _run(_LOCK, params)
    params["ids"] = [row[0] for row in locked]
    if not params["ids"]:
        return 0
    released, _count = _run(_RELEASE, params)
    debtors = [member_id for member_id, owed in released if owed]
    if debtors:
        _run(_SETTLE_DEBTS, {**params, "debtors": debtors})
    _rows, written = _run(_EXPIRY_ENTRIES, params)
    if written:
        _run(_EXPIRE_LOTS, params)
    return written
