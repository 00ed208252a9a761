"""Tiers: computed from what a member earned (or spent) over the rolling window.

Never from the spendable balance: spending points must not cost a member
their status. Promotion is immediate, when a purchase crosses a threshold;
demotion only happens at re-evaluation (a nightly task), so a member keeps a
tier at least until the window has really moved on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from loyalty.models import Member, PointsLot, Programme, Purchase, Tier, TierChange
from loyalty.services import settings_cache, webhooks
from loyalty.services.earning import current_programme
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


def all_tiers() -> list[Tier]:
    return settings_cache.cached(settings_cache.TIERS, lambda: list(Tier.objects.all()))


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
