"""Spending points: redeeming rewards, and issuing, checking, using and cancelling vouchers.

A redemption is one transaction: the member is locked, then the reward (when
it has stock) — always in that order —, eligibility is checked in a stable
order, the ledger is debited, stock goes down and a voucher is issued. It is
idempotent on its redemption id.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import Member, PointsEntry, Store
from loyalty.services import history, ledger, webhooks
from loyalty.services.actions import period_start
from loyalty.services.errors import (
    Conflict,
    InsufficientPoints,
    MemberLimitReached,
    NotFound,
    OutOfStock,
    RedemptionConflict,
    RewardUnavailable,
    TierRequired,
    UndoWindowPassed,
    VoucherCancelled,
    VoucherCodeInvalid,
    VoucherExpired,
    VoucherNotUsed,
    VoucherNotValidHere,
    VoucherUsed,
)
from loyalty.services.inputs import content_fingerprint, identifier, parse_money
from loyalty.services.members import current_member
from loyalty.services.recorded import Recorded
from rewards import codes
from rewards.models import Redemption, Reward, Voucher

CENT = Decimal("0.01")


def _is_available(reward: Reward, now: datetime) -> bool:
    return (reward.active and (reward.available_from is None or reward.available_from <= now)
            and (reward.available_until is None or now < reward.available_until))


def eligibility(*, member: Member, reward: Reward, now: datetime | None = None,
                redeemed_in_period: int | None = None) -> str | None:
    """Why this member cannot have this reward now (an error code), or None.

    The order is stable: reward_unavailable, tier_required, member_limit_reached,
    out_of_stock, insufficient_points (a balance below zero counts as too low).
    """
    now = now or timezone.now()
    if not _is_available(reward, now):
        return RewardUnavailable.code
    if reward.tier_required_id and (
            member.tier is None or member.tier.rank < reward.tier_required.rank):
        return TierRequired.code
    if reward.limit_count is not None:
        if redeemed_in_period is None:
            redeemed_in_period = redemptions_in_period(member=member, reward=reward, now=now)
        if redeemed_in_period >= reward.limit_count:
            return MemberLimitReached.code
    if reward.stock is not None and reward.stock <= 0:
        return OutOfStock.code
    if member.balance < reward.points_cost:
        return InsufficientPoints.code
    return None


ERRORS = {cls.code: cls for cls in (RewardUnavailable, TierRequired, MemberLimitReached,
                                    OutOfStock, InsufficientPoints)}


def redemptions_in_period(*, member: Member, reward: Reward, now: datetime) -> int:
    done = Redemption.objects.filter(member=member, reward=reward).exclude(
        voucher__status=Voucher.Status.CANCELLED)
    since = period_start(reward.limit_period, now)
    if since is not None:
        done = done.filter(created_at__gte=since)
    return done.count()


def redeem_reward(*, member: Member, reward_id: int, redemption_id: str,
                  store: Store | None = None, by=None, now: datetime | None = None) -> Recorded:
    """Spend points on a reward and issue its voucher, once per redemption id.

    Raises NotFound, RewardUnavailable, TierRequired, MemberLimitReached,
    OutOfStock, InsufficientPoints or RedemptionConflict (same id, other request).
    """
    now = now or timezone.now()
    redemption_id = identifier(redemption_id, field="redemption_id")
    if not Reward.objects.filter(pk=reward_id).exists():
        raise NotFound(fields={"reward_id": reward_id})
    fingerprint = content_fingerprint({"reward": int(reward_id)})
    try:
        with transaction.atomic():
            locked = ledger.lock_member(member.pk)
            existing = (Redemption.objects.select_related("voucher")
                        .filter(store=store, redemption_id=redemption_id).first())
            if existing is not None:
                return Recorded(_same_redemption(existing, locked, fingerprint), False)
            ledger.apply_due_changes(locked, now=now)
            reward_query = Reward.objects.select_related("tier_required")
            reward = reward_query.get(pk=reward_id)
            if reward.stock is not None:
                reward = reward_query.select_for_update(of=("self",)).get(pk=reward_id)
            if store is not None and reward.stores.exists() and not reward.stores.filter(
                    pk=store.pk).exists():
                raise RewardUnavailable(fields={"store": store.code})
            reason = eligibility(member=locked, reward=reward, now=now)
            if reason is not None:
                raise ERRORS[reason](fields={"reward_id": reward.pk, "balance": locked.balance,
                                             "points_cost": reward.points_cost})
            entry = ledger.apply_debit(
                locked, kind=PointsEntry.Kind.REDEEM, points=reward.points_cost,
                details={"event": history.REDEMPTION, "reward_id": reward.pk},
                reference=f"redemption:{redemption_id}",
                now=now, store=store, by=by)
            if reward.stock is not None:
                reward.stock -= 1
                reward.save(update_fields=["stock"])
            redemption = Redemption.objects.create(
                member=locked, reward=reward, store=store, redemption_id=redemption_id,
                points_spent=reward.points_cost, balance_after=locked.balance, entry=entry,
                fingerprint=fingerprint, created_at=now)
            voucher = _issue_voucher(redemption, reward=reward, now=now)
            webhooks.emit_voucher_issued(voucher=voucher, redemption=redemption, member=locked)
            return Recorded(redemption, True)
    except IntegrityError:
        existing = Redemption.objects.filter(store=store, redemption_id=redemption_id).first()
        if existing is None:
            raise
        return Recorded(_same_redemption(existing, current_member(member), fingerprint), False)


def _issue_voucher(redemption: Redemption, *, reward: Reward, now: datetime) -> Voucher:
    for _attempt in range(10):
        code = codes.new_code()
        if not Voucher.objects.filter(code=code).exists():
            break
    return Voucher.objects.create(
        code=code, redemption=redemption, member=redemption.member, reward=reward,
        kind=reward.kind, value=reward.value, issued_at=now,
        expires_at=now + timedelta(days=reward.voucher_validity_days))


def _same_redemption(existing: Redemption, member: Member, fingerprint: str) -> Redemption:
    if existing.member_id != member.pk or existing.fingerprint != fingerprint:
        raise RedemptionConflict(fields={"redemption_id": existing.redemption_id})
    return existing


def find_voucher(code: str) -> Voucher:
    """A voucher by its code, telling a mistyped code (400) from an unknown one (404)."""
    normalised = codes.normalise(code)
    if not codes.is_well_formed(normalised):
        raise VoucherCodeInvalid(fields={"code": code if len(str(code)) < 40 else "…"})
    voucher = (Voucher.objects.select_related("reward", "member", "used_store")
               .filter(code=normalised).first())
    if voucher is None:
        raise NotFound(fields={"code": normalised})
    return voucher


def discount_for(voucher: Voucher, order_amount: Decimal | None) -> Decimal:
    """What the voucher takes off an order (free shipping and gifts: nothing off the basket)."""
    if order_amount is None:
        return voucher.value if voucher.kind == Reward.Kind.AMOUNT else Decimal("0.00")
    if voucher.kind == Reward.Kind.PERCENT:
        return (order_amount * voucher.value / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    if voucher.kind == Reward.Kind.AMOUNT:
        return min(voucher.value, order_amount)
    return Decimal("0.00")


def _check_usable(voucher: Voucher, *, store: Store | None, now: datetime) -> None:
    if voucher.status == Voucher.Status.USED:
        raise VoucherUsed(fields={"order_id": voucher.used_order_id})
    if voucher.status == Voucher.Status.CANCELLED:
        raise VoucherCancelled()
    if voucher.status == Voucher.Status.EXPIRED or voucher.expires_at <= now:
        raise VoucherExpired(fields={"expires_at": voucher.expires_at.isoformat()})
    if store is not None and voucher.reward.stores.exists() and not voucher.reward.stores.filter(
            pk=store.pk).exists():
        raise VoucherNotValidHere(fields={"store": store.code})


def validate_voucher(*, code: str, order_amount=None, store: Store | None = None,
                     now: datetime | None = None) -> tuple[Voucher, Decimal]:
    """Check a voucher can be used now and say what it takes off `order_amount`."""
    now = now or timezone.now()
    voucher = find_voucher(code)
    amount = None if order_amount is None else parse_money(order_amount, field="order_amount")
    _check_usable(voucher, store=store, now=now)
    return voucher, discount_for(voucher, amount)


def redeem_voucher(*, code: str, order_id: str, store: Store, now: datetime | None = None
                   ) -> Recorded:
    """Use a voucher for an order. The same order again changes nothing; another order is
    `voucher_used`."""
    now = now or timezone.now()
    order_id = identifier(order_id, field="order_id")
    voucher = find_voucher(code)
    with transaction.atomic():
        voucher = (Voucher.objects.select_for_update(of=("self",))
                   .select_related("reward", "used_store").get(pk=voucher.pk))
        if (voucher.status == Voucher.Status.USED and voucher.used_order_id == order_id
                and voucher.used_store_id == store.pk):
            return Recorded(voucher, False)
        _check_usable(voucher, store=store, now=now)
        voucher.status = Voucher.Status.USED
        voucher.used_at = now
        voucher.used_order_id = order_id
        voucher.used_store = store
        voucher.save(update_fields=["status", "used_at", "used_order_id", "used_store"])
        return Recorded(voucher, True)


def undo_window() -> timedelta:
    return timedelta(minutes=settings.LOYALTY_VOUCHER_UNDO_MINUTES)


def undo_voucher_use(*, voucher_id: int, store: Store, by, reason: str = "",
                     now: datetime | None = None) -> Voucher:
    """Put back a voucher used by mistake at this store's till: usable again, as before.

    Only within LOYALTY_VOUCHER_UNDO_MINUTES of its use, and only where it was used
    (who may do it, a manager of the store, is the page's question). The change is kept
    in the admin's history, with who did it and for which order. Raises NotFound (no
    such voucher, or used in another store), VoucherNotUsed or UndoWindowPassed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        voucher = (Voucher.objects.select_for_update(of=("self",)).select_related("reward")
                   .filter(pk=voucher_id).first())
        if voucher is None:
            raise NotFound(fields={"voucher_id": voucher_id})
        if voucher.status != Voucher.Status.USED:
            raise VoucherNotUsed(fields={"status": voucher.status})
        if voucher.used_store_id != store.pk:
            raise NotFound(fields={"voucher_id": voucher_id})
        if voucher.used_at is None or now - voucher.used_at > undo_window():
            raise UndoWindowPassed(fields={"used_at": voucher.used_at.isoformat()
                                           if voucher.used_at else None})
        order_id = voucher.used_order_id
        voucher.status = Voucher.Status.ISSUED
        voucher.used_at = None
        voucher.used_order_id = ""
        voucher.used_store = None
        voucher.save(update_fields=["status", "used_at", "used_order_id", "used_store"])
        if getattr(by, "pk", None):
            LogEntry.objects.log_actions(
                user_id=by.pk, queryset=[voucher], action_flag=CHANGE, single_object=True,
                change_message=(f"Use undone at {store.code} (order {order_id})"
                                + (f": {reason[:200]}" if reason else "")))
        return voucher


def recently_used_vouchers(*, member: Member, store: Store,
                           now: datetime | None = None) -> list[Voucher]:
    """The member's vouchers used at this store recently enough to be undone."""
    now = now or timezone.now()
    return list(Voucher.objects.filter(member=member, used_store=store,
                                       status=Voucher.Status.USED,
                                       used_at__gt=now - undo_window())
                .select_related("reward").order_by("-used_at"))


def cancel_voucher(*, voucher_id: int, member_id: int | None = None, by=None,
                   now: datetime | None = None) -> Voucher:
    """Cancel an unused voucher: its points come back (a `cancel` entry), its stock too.
    A voucher given without points (`grant_voucher`) is just cancelled.

    `member_id`, when given, must own the voucher (NotFound otherwise: a member
    cannot even learn that someone else's voucher exists).
    """
    now = now or timezone.now()
    voucher = Voucher.objects.filter(pk=voucher_id).first()
    if voucher is None or (member_id is not None and voucher.member_id != member_id):
        raise NotFound(fields={"voucher_id": voucher_id})
    with transaction.atomic():
        member = ledger.lock_member(voucher.member_id)
        voucher = (Voucher.objects.select_for_update(of=("self",))
                   .select_related("redemption", "reward").get(pk=voucher.pk))
        if voucher.status == Voucher.Status.CANCELLED:
            return voucher
        _check_usable(voucher, store=None, now=now)
        if voucher.bought:  # a given voucher cost no points and took no stock
            points = voucher.redemption.points_spent
            ledger.apply_credit(member, kind=PointsEntry.Kind.CANCEL, points=points,
                                details={"event": history.VOUCHER_CANCELLED,
                                         "reward_id": voucher.reward_id,
                                         "code": voucher.formatted_code},
                                reference=f"voucher:{voucher.pk}", now=now, by=by)
            if voucher.reward.stock is not None:
                Reward.objects.filter(pk=voucher.reward_id).update(stock=F("stock") + 1)
        voucher.status = Voucher.Status.CANCELLED
        voucher.cancelled_at = now
        voucher.save(update_fields=["status", "cancelled_at"])
        return voucher


def expire_vouchers(*, now: datetime | None = None) -> int:
    """Mark issued vouchers past their date as expired. Their points are not returned."""
    now = now or timezone.now()
    return Voucher.objects.filter(status=Voucher.Status.ISSUED, expires_at__lte=now).update(
        status=Voucher.Status.EXPIRED)


def catalogue_for(*, member: Member | None, store: Store | None = None,
                  now: datetime | None = None) -> list[tuple[Reward, str | None]]:
    """Active rewards with, for a member, why each cannot be had now (None: it can)."""
    now = now or timezone.now()
    rewards = (Reward.objects.filter(active=True).select_related("tier_required")
               .filter(Q(available_until__isnull=True) | Q(available_until__gt=now)))
    if store is not None:
        rewards = rewards.filter(Q(stores__isnull=True) | Q(stores=store)).distinct()
    rewards = list(rewards)
    if member is None:
        return [(reward, None) for reward in rewards]
    counts = {reward.pk: redemptions_in_period(member=member, reward=reward, now=now)
              for reward in rewards if reward.limit_count is not None}
    return [(reward, eligibility(member=member, reward=reward, now=now,
                                 redeemed_in_period=counts.get(reward.pk)))
            for reward in rewards]


# --- vouchers given without points (journeys, campaigns) ------------------------------------

MAX_CODE_TRIES = 5


class VoucherGrantConflict(Conflict):
    code = "voucher_grant_conflict"
    default_message = _("This occasion already gave a voucher to another member or reward.")


def grant_voucher(*, member: Member | int, reward: Reward, expires_at: datetime, source: str,
                  occasion_key: str, now: datetime | None = None) -> Recorded:
    """Give a member a voucher for `reward` without spending points, once per occasion.

    The voucher freezes the reward's kind and value, is usable where the reward is
    (its stores) until `expires_at`, and is checked, used and expired exactly like a
    bought one. No points move, so there is no ledger entry and no redemption; the
    reward's availability, stock, tier and limits are the catalogue's rules and do not
    apply (a manager may give a reward that is not for sale). The voucher row is the
    record: its `source` (journey or campaign), its `occasion_key` and `issued_at`.
    The same occasion again returns the first voucher (`created` False); the same
    occasion for another member or reward raises VoucherGrantConflict.
    """
    member_id = member if isinstance(member, int) else member.pk
    with transaction.atomic():
        given = _grant(member_keys=[(member_id, occasion_key)], reward=reward,
                       expires_at=expires_at, source=source, now=now)
        voucher = Voucher.objects.select_related("reward").get(occasion_key=occasion_key)
        if voucher.member_id != member_id or voucher.reward_id != reward.pk:
            raise VoucherGrantConflict(fields={"occasion_key": occasion_key})
    return Recorded(voucher, occasion_key in given)


def grant_vouchers(*, member_keys: Iterable[tuple[int, str]], reward: Reward,
                   expires_at: datetime, source: str, now: datetime | None = None) -> int:
    """`grant_voucher` for many (member id, occasion key) pairs at once, in one
    transaction: an occasion already given is skipped. Returns how many were given."""
    return len(_grant(member_keys=member_keys, reward=reward, expires_at=expires_at,
                      source=source, now=now))


def _grant(*, member_keys: Iterable[tuple[int, str]], reward: Reward, expires_at: datetime,
           source: str, now: datetime | None) -> set[str]:
    if source not in (Voucher.Source.JOURNEY, Voucher.Source.CAMPAIGN):
        raise ValueError(f"not a source for a voucher given without points: {source}")
    now = now or timezone.now()
    wanted = {key: member_id for member_id, key in member_keys}
    given: set[str] = set()
    if not wanted:
        return given
    with transaction.atomic():
        missing = list(wanted)
        for _attempt in range(MAX_CODE_TRIES):
            drawn = {key: codes.new_code() for key in missing}
            # An occasion given before (or by another worker meanwhile), or a code already
            # taken, is skipped by the insert: the stored code tells whose it is, and a
            # key still without a voucher draws a new code in the next round.
            Voucher.objects.bulk_create([
                Voucher(code=code, member_id=wanted[key], reward=reward, kind=reward.kind,
                        value=reward.value, source=source, occasion_key=key, issued_at=now,
                        expires_at=expires_at)
                for key, code in drawn.items()], ignore_conflicts=True)
            stored = dict(Voucher.objects.filter(occasion_key__in=missing)
                          .values_list("occasion_key", "code"))
            given |= {key for key, code in stored.items() if drawn[key] == code}
            missing = [key for key in missing if key not in stored]
            if not missing:
                return given
        raise RuntimeError("could not draw free voucher codes")  # 30^9 codes: never
