"""The demo's messages: the journeys switched on and replayed over its last weeks, so the
messages page shows what fired, what went and what was held back (and why)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.test.utils import override_settings

from loyalty.models import Journey, Message
from loyalty.services.messaging import delivery, journeys
from rewards.models import Reward

DAYS = 21
WIN_BACK_REWARD = "€5 voucher"
WIN_BACK_VOUCHER_DAYS = 30  # longer than DAYS: none of the replay's vouchers has expired
SWITCHED_ON = (Journey.Kind.WELCOME, Journey.Kind.SECOND_PURCHASE, Journey.Kind.BIRTHDAY,
               Journey.Kind.POINTS_EXPIRING, Journey.Kind.TIER_REACHED,
               Journey.Kind.REWARD_WITHIN_REACH, Journey.Kind.WIN_BACK, Journey.Kind.REVIEW_REQUEST)


def replay_journeys(*, now: datetime) -> dict[str, int]:
    """Switch the demo's journeys on and fire them as beat would have, at 10:00 each of the
    last DAYS days, sending what is due at once, then once more now. The emails of the
    past are not printed (the console backend would flood `make run`'s start); today's
    are, as a live run would. Runs once: a programme that already has messages is left
    alone."""
    Journey.objects.filter(kind__in=SWITCHED_ON).update(active=True)
    # Win-back comes with a €5 voucher, valid a month: given without points.
    Journey.objects.filter(kind=Journey.Kind.WIN_BACK, voucher_reward=None).update(
        voucher_reward=Reward.objects.filter(name=WIN_BACK_REWARD).first(),
        voucher_days=WIN_BACK_VOUCHER_DAYS)
    if Message.objects.exists():
        return {}
    fired: dict[str, int] = {}
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
        for back in range(DAYS, 0, -1):
            _fire(fired, at=(now - timedelta(days=back)).replace(hour=10, minute=0, second=0,
                                                                 microsecond=0))
    _fire(fired, at=now)
    return fired


def _fire(fired: dict[str, int], *, at: datetime) -> None:
    for kind, count in journeys.run_journeys(now=at).items():
        fired[kind] = fired.get(kind, 0) + count
    while True:
        ids, claim = delivery.OUTBOX.claim_due(now=at, limit=500)
        if not ids:
            return
        for message_id in ids:
            delivery.attempt(message_id=message_id, claim=claim, now=at)
