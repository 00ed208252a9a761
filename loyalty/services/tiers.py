"""Tiers: computed from what a member earned (or spent) over the rolling window.

Never from the spendable balance: spending points must not cost a member
their status. Promotion is immediate, when a purchase crosses a threshold;
demotion only happens at re-evaluation (a nightly task), so a member keeps a
tier at least until the window has really moved on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from loyalty.models import Member, PointsLot, Programme, Purchase, Tier, TierChange
from loyalty.services import webhooks
from loyalty.services.earning import all_tiers, current_programme
from loyalty.services.ledger import lock_member


def qualifying_value(*, member: Member, now: datetime, programme: Programme | None = None
                     ) -> Decimal:
    """Qualifying points (or net spend) in the window ending `now`."""
    programme = programme or current_programme()
    since = now - timedelta(days=programme.tier_window_days)
    if programme.tier_basis == Programme.TierBasis.SPEND:
        total = (Purchase.objects.filter(member=member, occurred_at__gt=since,
                                         occurred_at__lte=now)
                 .aggregate(total=Sum(F("amount") - F("refunded_amount")))["total"])
    else:
        total = (PointsLot.objects.filter(member=member, qualifying=True, earned_at__gt=since,
                                          earned_at__lte=now)
                 .aggregate(total=Sum(F("points") - F("reversed") - F("clawed_back")))["total"])
    return Decimal(total or 0)


def tier_for(value: Decimal, tiers: list[Tier]) -> Tier | None:
    reached = [tier for tier in tiers if tier.threshold <= value]
    return max(reached, key=lambda tier: tier.rank) if reached else None


def _change(member: Member, *, to: Tier | None, reason: str, value: Decimal, now, by=None):
    change = TierChange.objects.create(member=member, from_tier=member.tier, to_tier=to,
                                       reason=reason, qualifying_value=value, by=by, at=now)
    webhooks.emit_tier_changed(change=change, member=member)
    member.tier = to
    member.save(update_fields=["tier", "updated_at"])


def apply_promotion(member: Member, *, now: datetime, reason: str = TierChange.Reason.PROMOTION,
                    programme: Programme | None = None) -> Tier | None:
    """Move a locked member up if they now qualify for a higher tier. Never down."""
    tiers = all_tiers()
    current_rank = member.tier.rank if member.tier else -1
    higher = [tier.threshold for tier in tiers if tier.rank > current_rank]
    if not higher:
        return member.tier  # no tier above (or none at all): nothing to count
    programme = programme or current_programme()
    if (programme.tier_basis == Programme.TierBasis.POINTS
            and member.lifetime_earned < min(higher)):
        # The window's qualifying points are a part of what the member ever earned (net of
        # refunds), so a lifetime below the next threshold cannot reach it: skip the sum.
        return member.tier
    value = qualifying_value(member=member, now=now, programme=programme)
    target = tier_for(value, tiers)
    if target is not None and target.rank > current_rank:
        _change(member, to=target, reason=reason, value=value, now=now)
    return member.tier


def reevaluate_tier(*, member_id: int, now: datetime | None = None) -> Tier | None:
    """Set a member's tier to what the window now supports: up or down. Idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        member = lock_member(member_id)
        tiers = all_tiers()
        value = qualifying_value(member=member, now=now)
        target = tier_for(value, tiers)
        if target != member.tier:
            _change(member, to=target, reason=TierChange.Reason.REEVALUATION, value=value,
                    now=now)
        return member.tier


def set_tier(*, member_id: int, tier: Tier | None, by=None, now: datetime | None = None) -> None:
    """Staff override; the next re-evaluation applies the rules again."""
    now = now or timezone.now()
    with transaction.atomic():
        member = lock_member(member_id)
        if member.tier != tier:
            _change(member, to=tier, reason=TierChange.Reason.MANUAL,
                    value=qualifying_value(member=member, now=now), now=now, by=by)


# --- The nightly re-evaluation, for every member at once -----------------------------------


def _qualifying_values(*, member_ids: Sequence[int], now: datetime, programme: Programme
                       ) -> dict[int, Decimal]:
    """`qualifying_value` for many members with one aggregate (members without any: absent)."""
    since = now - timedelta(days=programme.tier_window_days)
    if programme.tier_basis == Programme.TierBasis.SPEND:
        rows = (Purchase.objects.filter(member_id__in=member_ids, occurred_at__gt=since,
                                        occurred_at__lte=now)
                .values("member_id").annotate(total=Sum(F("amount") - F("refunded_amount"))))
    else:
        rows = (PointsLot.objects.filter(member_id__in=member_ids, qualifying=True,
                                         earned_at__gt=since, earned_at__lte=now)
                .values("member_id")
                .annotate(total=Sum(F("points") - F("reversed") - F("clawed_back"))))
    return {row["member_id"]: Decimal(row["total"] or 0) for row in rows.order_by()}


def qualifying_values(*, member_ids: Sequence[int], now: datetime) -> dict[int, Decimal]:
    """`qualifying_value` of many members at `now`, in one aggregate (0 for those without)."""
    found = _qualifying_values(member_ids=member_ids, now=now, programme=current_programme())
    return {member_id: found.get(member_id, Decimal(0)) for member_id in member_ids}


def _target_id(value: Decimal, tiers: list[Tier]) -> int | None:
    target = tier_for(value, tiers)
    return target.pk if target is not None else None


def _reevaluated_members():
    """Who the re-evaluation looks at: active members with a tier or with points (lots)."""
    return (Member.objects.filter(status=Member.Status.ACTIVE)
            .filter(Q(tier__isnull=False)
                    | Exists(PointsLot.objects.filter(member=OuterRef("pk")))))


# Every re-evaluated member's window value with one aggregate, mapped to a tier by the
# thresholds (a CASE built from the tiers), compared with the current tier: only the
# members whose tier changes come out.
_CHANGING_SQL = """
SELECT m.id
FROM loyalty_member m
LEFT JOIN ({window}) q ON q.member_id = m.id
WHERE m.status = %s
  AND (m.tier_id IS NOT NULL
       OR EXISTS (SELECT 1 FROM loyalty_pointslot l WHERE l.member_id = m.id))
  AND m.tier_id IS DISTINCT FROM ({target})
ORDER BY m.id
"""
_WINDOW_POINTS = """
SELECT member_id, sum(points - reversed - clawed_back) AS value FROM loyalty_pointslot
WHERE qualifying AND earned_at > %s AND earned_at <= %s GROUP BY member_id
"""
_WINDOW_SPEND = """
SELECT member_id, sum(amount - refunded_amount) AS value FROM loyalty_purchase
WHERE occurred_at > %s AND occurred_at <= %s AND member_id IS NOT NULL GROUP BY member_id
"""
BATCH_WORK_MEM = "64MB"


def _target_case(tiers: list[Tier]) -> tuple[str, list]:
    """SQL giving the tier id that `tier_for` gives for coalesce(q.value, 0)."""
    thresholds = sorted({tier.threshold for tier in tiers}, reverse=True)
    if not thresholds:
        return "NULL::bigint", []
    sql, params = "CASE", []
    for threshold in thresholds:
        sql += " WHEN coalesce(q.value, 0) >= %s THEN %s::bigint"
        params += [threshold, _target_id(threshold, tiers)]
    return sql + " ELSE NULL END", params


def _changing_set_based(*, now: datetime, programme: Programme, tiers: list[Tier],
                        size: int) -> Iterator[list[int]]:
    since = now - timedelta(days=programme.tier_window_days)
    window = (_WINDOW_SPEND if programme.tier_basis == Programme.TierBasis.SPEND
              else _WINDOW_POINTS)
    target, target_params = _target_case(tiers)
    statement = _CHANGING_SQL.format(window=window, target=target)
    params = [since, now, Member.Status.ACTIVE, *target_params]
    with connection.cursor() as cursor:
        # A batch: its hash aggregate over the window's lots may take more memory than a
        # request's, and JIT costs more than it saves here (as the insight run does).
        cursor.execute(f"SET work_mem = '{BATCH_WORK_MEM}'")
        cursor.execute("SET jit = off")
    try:
        # A server-side cursor: one chunk in memory, however many members change.
        with connection.chunked_cursor() as cursor:
            cursor.execute(statement, params)
            while rows := cursor.fetchmany(size):
                yield [row[0] for row in rows]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET work_mem")
            cursor.execute("RESET jit")


def _changing_member_by_member(*, now: datetime, programme: Programme, tiers: list[Tier],
                               size: int) -> Iterator[list[int]]:
    """The ORM form (SQLite): the same members, one aggregate for each `size` of them."""
    def changing(batch):
        values = _qualifying_values(member_ids=[pk for pk, _tier in batch], now=now,
                                    programme=programme)
        return [pk for pk, tier_id in batch
                if _target_id(values.get(pk, Decimal(0)), tiers) != tier_id]

    found, batch = [], []
    for row in _reevaluated_members().order_by("pk").values_list("pk", "tier_id").iterator(
            chunk_size=size):
        batch.append(row)
        if len(batch) == size:
            found += changing(batch)
            batch = []
        if len(found) >= size:
            yield found[:size]
            found = found[size:]
    found += changing(batch) if batch else []
    while found:
        yield found[:size]
        found = found[size:]


def members_whose_tier_changes(*, now: datetime | None = None, size: int = 1000
                               ) -> Iterator[list[int]]:
    """Ids of the active members whose tier the window no longer supports, `size` at a time.

    The members `reevaluate_tier` would change, found set-based on PostgreSQL (one
    aggregate over the window), by chunks of members through the ORM elsewhere.
    Looked at: active members with a tier or with points, as the nightly task always did.
    """
    now = now or timezone.now()
    programme = current_programme()
    tiers = all_tiers()
    finder = (_changing_set_based if connection.vendor == "postgresql"
              else _changing_member_by_member)
    yield from finder(now=now, programme=programme, tiers=tiers, size=size)


def reevaluate_tiers_of(*, member_ids: Sequence[int], now: datetime | None = None) -> int:
    """`reevaluate_tier` for many members in one transaction; returns how many changed.

    The members are locked (select_for_update, in id order); their window values
    come from one aggregate; each change is a TierChange and a `member.tier_changed`
    webhook, as for one member. Closed members are skipped. Idempotent.
    """
    now = now or timezone.now()
    ids = sorted({int(member_id) for member_id in member_ids})
    if not ids:
        return 0
    programme = current_programme()
    tiers = all_tiers()
    by_id = {tier.pk: tier for tier in tiers}
    with transaction.atomic():
        members = list(Member.objects.select_for_update()
                       .filter(pk__in=ids, status=Member.Status.ACTIVE).order_by("pk"))
        values = _qualifying_values(member_ids=[m.pk for m in members], now=now,
                                    programme=programme)
        changes, changed = [], []
        for member in members:
            value = values.get(member.pk, Decimal(0))
            target = tier_for(value, tiers)
            if (target.pk if target else None) == member.tier_id:
                continue
            changes.append(TierChange(member=member, from_tier=by_id.get(member.tier_id),
                                      to_tier=target, reason=TierChange.Reason.REEVALUATION,
                                      qualifying_value=value, at=now))
            changed.append(member)
        # The same rows as `_change` for each member, written for the chunk at once.
        TierChange.objects.bulk_create(changes)
        for change, member in zip(changes, changed, strict=True):
            webhooks.emit_tier_changed(change=change, member=member)
        moves: dict[int | None, list[int]] = {}
        for change in changes:
            moves.setdefault(change.to_tier_id, []).append(change.member_id)
        for tier_id, member_ids_to in moves.items():
            Member.objects.filter(pk__in=member_ids_to).update(tier_id=tier_id,
                                                                updated_at=timezone.now())
    return len(changes)
