"""Purchases and refunds: what a member earns for buying, and gives back for returning.

Ingestion is idempotent on (store, order id): the same order again changes
nothing and returns what the first one did; the same order id with another
amount, member or lines is an `order_conflict`. Refunds are idempotent on
(store, refund id) and reverse points in proportion to the amount refunded,
cumulatively, so that refunding a purchase in parts takes back exactly what
refunding it at once would.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from loyalty.models import PointsEntry, Purchase, PurchaseItem, Refund, Store
from loyalty.services import bonuses, earning, history, ledger, tiers, webhooks
from loyalty.services.errors import (
    Invalid,
    NotFound,
    OrderConflict,
    RefundConflict,
    RefundExceedsPurchase,
)
from loyalty.services.inputs import (
    MAX_QUANTITY,
    checked_occurred_at,
    content_fingerprint,
    identifier,
    parse_money,
)
from loyalty.services.members import current_member
from loyalty.services.recorded import Recorded
from loyalty.services.referrals import credit_referral

MAX_ITEMS = 500


def clean_items(items) -> list[dict]:
    if not items:
        return []
    if not isinstance(items, list | tuple) or len(items) > MAX_ITEMS:
        raise Invalid(fields={"items": f"a list of at most {MAX_ITEMS} lines"})
    cleaned = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Invalid(fields={f"items[{index}]": "an object"})
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not (
                1 <= quantity <= MAX_QUANTITY):
            raise Invalid(fields={f"items[{index}].quantity": "a whole number from 1"})
        cleaned.append({
            "sku": identifier(item.get("sku"), field=f"items[{index}].sku"),
            "category": str(item.get("category") or "").strip()[:100],
            "quantity": quantity,
            "unit_price": parse_money(item.get("unit_price"),
                                      field=f"items[{index}].unit_price"),
        })
    return cleaned


def record_purchase(*, store: Store, order_id: str, amount, member, items=(),
                    occurred_at: datetime | None = None, by=None, now: datetime | None = None
                    ) -> Recorded:
    """Record a purchase for a member and credit what it earns, once.

    Points stay pending for the programme's return window after the purchase,
    then become spendable; they expire after the validity period. `by`, the
    cashier who recorded it at the till, is kept on the purchase and its entry. Raises
    Invalid (bad amount, items, dates), OrderConflict (same order id, other
    content), NotFound or MemberClosed (member).

    `member=None` records a sale without a member, earning nothing: its receipt's
    claim code (loyalty.services.claims) lets the customer make it theirs later.
    """
    now = now or timezone.now()
    order_id = identifier(order_id, field="order_id")
    amount = parse_money(amount, field="amount")
    items = clean_items(items)
    occurred_at = checked_occurred_at(occurred_at, now)
    fingerprint = content_fingerprint({"amount": amount, "items": items})
    try:
        with transaction.atomic():
            locked = ledger.lock_member(member.pk) if member is not None else None
            # No look-up of the order first: a retried order is rare, and the unique
            # constraint on (store, order_id) refuses it at the purchase's INSERT below,
            # which rolls this whole transaction back (entry, lot, balance); the handler
            # then returns the first purchase. One query less on every new order.
            purchase = Purchase(store=store, order_id=order_id, member=None, amount=amount,
                                occurred_at=occurred_at, fingerprint=fingerprint,
                                created_at=now,
                                cashier=by if (by is not None and by.is_authenticated) else None)
            if locked is None:
                purchase.save()
            else:
                credit_purchase(purchase, member=locked, items=items, now=now, by=by)
            if items:
                PurchaseItem.objects.bulk_create(PurchaseItem(purchase=purchase, **item)
                                                 for item in items)
            return Recorded(purchase, True)
    except IntegrityError:
        # The same order again (a retry, or a concurrent duplicate that committed first).
        existing = Purchase.objects.filter(store=store, order_id=order_id).first()
        if existing is None:
            raise
        member = current_member(member) if member is not None else None
        return Recorded(_same_purchase(existing, member, fingerprint), False)


def credit_purchase(purchase: Purchase, *, member, items, now: datetime, by=None) -> None:
    """Give a purchase to a locked member and credit what it earns, inside the caller's
    transaction: the one path for a purchase recorded with its member and for a receipt
    claimed later. The scale's active rules apply, dated ones if their dates cover the
    purchase's time; points are pending until the return window, counted from the
    purchase, ends. The member's open next-purchase bonus, looked for under their lock, is
    taken by this purchase."""
    store, occurred_at = purchase.store, purchase.occurred_at
    scale = earning.load_scale()
    programme = scale.programme
    today = (earning.earned_today(member=member, occurred_at=occurred_at)
             if programme.max_points_per_day is not None else 0)
    # Under the member's lock: two purchases at once cannot both take the bonus.
    bonus = (bonuses.open_bonus(member_id=member.pk, occurred_at=occurred_at)
             if scale.bonuses else None)
    evaluation = earning.evaluate_purchase(
        scale=scale, store=store, occurred_at=occurred_at, amount=purchase.amount,
        items=items, tier=member.tier, earned_today=today,
        campaign_ids=earning.campaign_offers_for(scale=scale, member=member),
        personal_bonus=bonus)
    entry = None
    if evaluation.points > 0:
        entry = ledger.apply_credit(
            member, kind=PointsEntry.Kind.EARN, points=evaluation.points,
            details=history.purchase_details(store=store, order_id=purchase.order_id,
                                             occurred_at=occurred_at,
                                             breakdown=evaluation.breakdown),
            reference=f"order:{store.code}/{purchase.order_id}", now=now,
            available_at=occurred_at + timedelta(days=programme.return_window_days),
            expires_at=occurred_at + timedelta(days=programme.points_validity_days),
            qualifying=True, earned=True, store=store, by=by)
    purchase.member = member
    purchase.points_earned = evaluation.points
    purchase.points_breakdown = evaluation.breakdown
    purchase.balance_after = member.balance
    purchase.entry = entry
    purchase.save()
    if bonus is not None:
        bonuses.mark_used(bonus, purchase=purchase, now=now)
    credit_referral(purchase=purchase)  # a referred friend's first purchase
    webhooks.emit_purchase_earned(purchase=purchase, member=member, now=now)
    if entry is not None:
        tiers.apply_promotion(member, now=now, programme=programme)


def _same_purchase(existing: Purchase, member, fingerprint: str) -> Purchase:
    if existing.fingerprint != fingerprint:
        raise OrderConflict(fields={"order_id": existing.order_id})
    if member is None:
        # A sale recorded without a member, again: the same sale, even if its receipt
        # was claimed since.
        if existing.member_id is None or hasattr(existing, "claim"):
            return existing
        raise OrderConflict(fields={"order_id": existing.order_id})
    if existing.member_id != member.pk:
        raise OrderConflict(fields={"order_id": existing.order_id})
    return existing


def points_status(purchase: Purchase, *, now: datetime | None = None) -> str:
    now = now or timezone.now()
    entry = purchase.entry
    if entry is None:
        return "available"
    return "available" if entry.lot.available_at <= now else "pending"


def record_refund(*, purchase: Purchase, refund_id: str, amount, items=(), by=None,
                  now: datetime | None = None) -> Recorded:
    """Refund part or all of a purchase and take back the points it earned, in proportion.

    Raises Invalid, RefundExceedsPurchase (more than what remains unrefunded) or
    RefundConflict (same refund id, other content).
    """
    now = now or timezone.now()
    refund_id = identifier(refund_id, field="refund_id")
    amount = parse_money(amount, field="amount", allow_zero=False)
    items = clean_items(items)
    fingerprint = content_fingerprint({"purchase": purchase.pk, "amount": amount,
                                       "items": items})
    try:
        return _record_refund(purchase=purchase, refund_id=refund_id, amount=amount,
                              items=items, by=by, now=now, fingerprint=fingerprint)
    except _ClaimedMeanwhile:
        return _record_refund(purchase=purchase, refund_id=refund_id, amount=amount,
                              items=items, by=by, now=now, fingerprint=fingerprint)


def _record_refund(*, purchase: Purchase, refund_id: str, amount, items, by, now: datetime,
                   fingerprint: str) -> Recorded:
    try:
        with transaction.atomic():
            member, purchase = _lock_for_refund(purchase)
            existing = Refund.objects.filter(store=purchase.store, refund_id=refund_id).first()
            if existing is not None:
                return Recorded(_same_refund(existing, fingerprint), False)
            if amount > purchase.refundable_amount:
                raise RefundExceedsPurchase(fields={
                    "amount": f"at most {purchase.refundable_amount}"})
            refunded = purchase.refunded_amount + amount
            target = (math.floor(purchase.points_earned * refunded / purchase.amount)
                      if purchase.amount else 0)
            to_reverse = target - purchase.points_reversed
            entry = None
            if member is not None:
                lot = purchase.entry.lot if purchase.entry_id else None
                entry = ledger.apply_reversal(
                    member, lot=lot, points=to_reverse,
                    details={**history.purchase_details(
                        store=purchase.store, order_id=purchase.order_id,
                        occurred_at=purchase.occurred_at, breakdown=()),
                        "event": history.REFUND, "refund_id": refund_id},
                    reference=f"refund:{purchase.store.code}/{refund_id}", now=now,
                    store=purchase.store, by=by)
            purchase.refunded_amount = refunded
            purchase.points_reversed = target
            purchase.save(update_fields=["refunded_amount", "points_reversed"])
            refund = Refund.objects.create(
                purchase=purchase, store=purchase.store, refund_id=refund_id, amount=amount,
                items=[{**item, "unit_price": str(item["unit_price"])} for item in items],
                points_reversed=-entry.points if entry else 0,
                balance_after=member.balance if member is not None else 0,
                entry=entry, fingerprint=fingerprint, created_at=now)
            return Recorded(refund, True)
    except IntegrityError:
        existing = Refund.objects.filter(store=purchase.store, refund_id=refund_id).first()
        if existing is None:
            raise
        return Recorded(_same_refund(existing, fingerprint), False)


class _ClaimedMeanwhile(Exception):
    """A sale without a member was claimed while a refund waited for it: start again."""


def _lock_for_refund(purchase: Purchase):
    """The purchase's member and the purchase, locked in the house's order: member, then
    purchase. A sale without a member has no member to lock, so the purchase row is
    locked instead (a claim locks it too); if it was claimed meanwhile, the refund starts
    again on the member's path rather than lock the member after the purchase."""
    related = ("entry__lot", "store")
    member_id = Purchase.objects.filter(pk=purchase.pk).values_list("member_id", flat=True)[0]
    if member_id is not None:
        member = ledger.lock_member(member_id)
        return member, Purchase.objects.select_related(*related).get(pk=purchase.pk)
    purchase = (Purchase.objects.select_for_update(of=("self",)).select_related(*related)
                .get(pk=purchase.pk))
    if purchase.member_id is not None:
        raise _ClaimedMeanwhile
    return None, purchase


def _same_refund(existing: Refund, fingerprint: str) -> Refund:
    if existing.fingerprint != fingerprint:
        raise RefundConflict(fields={"refund_id": existing.refund_id})
    return existing


def find_purchase(*, store: Store, purchase_id) -> Purchase:
    try:
        return Purchase.objects.select_related("store").get(pk=int(purchase_id), store=store)
    except (Purchase.DoesNotExist, ValueError, TypeError):
        raise NotFound(fields={"purchase_id": purchase_id}) from None


def caps_applied(purchase: Purchase) -> list[str]:
    """Which caps cut what the purchase earned ("purchase", "day"), from its breakdown."""
    return [line.get("cap") or "purchase" for line in purchase.points_breakdown
            if line.get("source") == "cap"]


def find_receipt(*, store: Store, receipt: str) -> Purchase:
    """A purchase of this store by its receipt number (the order id). Raises NotFound."""
    receipt = (receipt or "").strip()
    purchase = (Purchase.objects.select_related("member", "store")
                .filter(store=store, order_id=receipt).first()) if receipt else None
    if purchase is None:
        raise NotFound(fields={"receipt": receipt[:100]})
    return purchase


def recent_purchases(*, member, store: Store, limit: int = 5) -> list[Purchase]:
    """The member's latest purchases in this store that can still be refunded."""
    return list(Purchase.objects.filter(member=member, store=store,
                                        refunded_amount__lt=F("amount"))
                .order_by("-occurred_at", "-id")[:limit])
