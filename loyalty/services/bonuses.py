"""Personal bonuses on a member's next purchase (the second-purchase journey's offer).

A bonus is given with the journey's message, in the same transaction, once per
occasion (`grant_bonuses`). The earning service asks for the member's open bonus
at each purchase, under the member's lock (`open_bonus`), applies it to that
purchase's points (a `bonus` line of the rule trail, so that a refund takes it
back in proportion like any other line) and marks it used by that purchase
(`mark_used`): the lock makes two simultaneous purchases take it once.

So that purchases pay nothing for this while no bonus can exist, the points
scale (cached) says whether any can (`Scale.bonuses`): the journey gives one, or
one given earlier is still open.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from loyalty.models import Journey, Purchase, PurchaseBonus


def any_possible(*, now: datetime | None = None) -> bool:
    """Whether a purchase may find a bonus: the second-purchase journey gives one, or one
    given before is still open. Read when the points scale is (re)built."""
    now = now or timezone.now()
    journey = Journey.objects.filter(kind=Journey.Kind.SECOND_PURCHASE, active=True).filter(
        Q(bonus_factor__isnull=False) | Q(bonus_points__gt=0))
    return journey.exists() or PurchaseBonus.objects.filter(
        used_at__isnull=True, expires_at__gt=now).exists()


def grant_bonuses(*, member_keys: Iterable[tuple[int, str]], factor: Decimal | None,
                  points: int, starts_at: datetime, expires_at: datetime) -> int:
    """Give each (member id, occasion key) a bonus on their next purchase between
    `starts_at` and `expires_at`, once per occasion key (one given before is kept as it
    was). Returns how many were given."""
    rows = [PurchaseBonus(member_id=member_id, occasion_key=key, factor=factor, points=points,
                          starts_at=starts_at, expires_at=expires_at)
            for member_id, key in member_keys]
    if not rows:
        return 0
    keys = [row.occasion_key for row in rows]
    with transaction.atomic():
        before = PurchaseBonus.objects.filter(occasion_key__in=keys).count()
        PurchaseBonus.objects.bulk_create(rows, ignore_conflicts=True)
        return PurchaseBonus.objects.filter(occasion_key__in=keys).count() - before


def open_bonus(*, member_id: int, occurred_at: datetime) -> PurchaseBonus | None:
    """The member's bonus for a purchase made at `occurred_at`: not used yet, given before
    the purchase and not expired at it (the first to expire, if several). Call it under the
    member's lock, and `mark_used` in the same transaction."""
    return (PurchaseBonus.objects
            .filter(member_id=member_id, used_at__isnull=True, starts_at__lte=occurred_at,
                    expires_at__gt=occurred_at)
            .order_by("expires_at", "pk").first())


def mark_used(bonus: PurchaseBonus, *, purchase: Purchase, now: datetime) -> None:
    """The bonus went to this purchase: never again."""
    updated = PurchaseBonus.objects.filter(pk=bonus.pk, used_at__isnull=True).update(
        used_at=now, purchase=purchase)
    if updated != 1:  # only without the member's lock: refuse rather than give it twice
        raise RuntimeError(f"next-purchase bonus {bonus.pk} was already used")
