"""What a journey's message may bring besides words: a voucher (win-back) or a bonus on
the next purchase (second purchase), given in the same transaction as the message.

`for_journey` gives `delivery.queue` what to do with the messages it has just
written: each one's offer is keyed by the message's occasion, so the offer and its
message come together once, whatever reruns or concurrent workers do. A message's
voucher is found again by that key when it is rendered (`voucher_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from loyalty.models import Journey, Message
from loyalty.services import bonuses


def voucher_expiry(journey: Journey, now: datetime) -> datetime:
    return now + timedelta(days=journey.voucher_days)


def bonus_expiry(journey: Journey, now: datetime) -> datetime:
    return now + timedelta(days=journey.bonus_days)


def context_for(journey: Journey, now: datetime) -> dict:
    """What a message of this journey says about its offer (stored in its context)."""
    if journey.gives_voucher:
        return {"voucher": True}
    if journey.gives_bonus:
        last = bonus_expiry(journey, now) - timedelta(microseconds=1)
        factor = journey.bonus_factor
        return {"bonus": {"factor": f"{factor.normalize():f}" if factor else "",
                          "points": journey.bonus_points,
                          "until": timezone.localdate(last).isoformat()}}
    return {}


def for_journey(journey: Journey, now: datetime) -> Callable[[list[Message]], int] | None:
    """What to give with each message this journey writes now; None: nothing."""
    if journey.gives_voucher:
        from rewards.models import Voucher
        from rewards.services import grant_vouchers

        reward, expires_at = journey.voucher_reward, voucher_expiry(journey, now)

        def give_vouchers(written: list[Message]) -> int:
            return grant_vouchers(
                member_keys=[(m.member_id, m.occasion) for m in written
                             if (m.context or {}).get("voucher")],
                reward=reward, expires_at=expires_at, source=Voucher.Source.JOURNEY, now=now)
        return give_vouchers
    if journey.gives_bonus:
        def give_bonuses(written: list[Message]) -> int:
            return bonuses.grant_bonuses(
                member_keys=[(m.member_id, m.occasion) for m in written
                             if (m.context or {}).get("bonus")],
                factor=journey.bonus_factor, points=journey.bonus_points, starts_at=now,
                expires_at=bonus_expiry(journey, now))
        return give_bonuses
    return None


def voucher_of(message: Message):
    """The voucher given with this message (by its occasion), or None. A preview (a
    message never queued, without an occasion) gets a sample one, never saved."""
    if not (message.context or {}).get("voucher"):
        return None
    from rewards import codes
    from rewards.models import Voucher

    if not message.occasion:
        journey = message.journey
        if journey is None or not journey.gives_voucher:
            return None
        reward = journey.voucher_reward
        return Voucher(code=codes.new_code(), reward=reward, kind=reward.kind,
                       value=reward.value, source=Voucher.Source.JOURNEY,
                       expires_at=voucher_expiry(journey, timezone.now()))
    return (Voucher.objects.select_related("reward")
            .filter(occasion_key=message.occasion, member_id=message.member_id).first())
