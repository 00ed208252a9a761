"""The journeys: who gets which automatic message, and when.

`run_journeys` (hourly, from beat) asks each active journey's finder for its
occasions: one query each over the members concerned (the window of the day,
never every member), giving unsaved messages with an occasion key that names
the member and the moment (`birthday:2027:42`). `delivery.queue` writes them
once: a rerun, a retry or two workers find the occasion taken. The birthday
journey also credits the `birthday` action once a year, through the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Exists, F, Min, OuterRef, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from loyalty.models import (
    Journey,
    Member,
    Message,
    PointsLot,
    Purchase,
    Stage,
    StagePeriod,
    TierChange,
)
from loyalty.services import actions, tiers
from loyalty.services.earning import all_tiers
from loyalty.services.messaging import delivery, offers

Kind = Journey.Kind
# How far back a finder looks: a run missed for a day (a worker down) still fires.
CATCH_UP = timedelta(days=2)
ACTIVE = Member.Status.ACTIVE


def _message(journey: Journey, *, member_id: int, occasion: str, **context) -> Message:
    return Message(member_id=member_id, journey=journey, kind=journey.kind,
                   occasion=f"{journey.kind}:{occasion}"[:120], channel=journey.channel,
                   purpose=journey.purpose, priority=journey.priority, context=context)


def welcome(journey: Journey, now: datetime) -> Iterator[Message]:
    for member_id in Member.objects.filter(status=ACTIVE, created_at__gt=now - CATCH_UP,
                                           created_at__lte=now).values_list("pk", flat=True):
        yield _message(journey, member_id=member_id, occasion=str(member_id),
                       path=reverse("card"))


def welcome_now(*, member_id: int, now: datetime | None = None) -> int:
    """Queue the welcome journey's message for a member enrolled a moment ago (at the
    till), rather than at the next hourly run: the same occasion as the journey's, so it
    is sent once either way. Nothing while the journey is off. How many were queued."""
    journey = Journey.objects.filter(kind=Kind.WELCOME, active=True).first()
    if journey is None:
        return 0
    return delivery.queue([_message(journey, member_id=member_id, occasion=str(member_id),
                                    path=reverse("card"))], now=now)


def second_purchase(journey: Journey, now: datetime) -> Iterator[Message]:
    """A first purchase `days` ago, and none since; with a bonus on the next purchase when
    the journey gives one (written with the message, see `offers`)."""
    due = now - timedelta(days=journey.days)
    others = Purchase.objects.filter(member_id=OuterRef("member_id")).exclude(pk=OuterRef("pk"))
    firsts = (Purchase.objects.filter(occurred_at__gt=due - CATCH_UP, occurred_at__lte=due,
                                      member__status=ACTIVE)
              .exclude(Exists(others)).values_list("member_id", flat=True))
    offer = offers.context_for(journey, now)  # a bonus on the next purchase, if any
    for member_id in firsts:
        yield _message(journey, member_id=member_id, occasion=str(member_id),
                       path=reverse("rewards:catalogue"), **offer)


def birthday(journey: Journey, now: datetime) -> Iterator[Message]:
    """On the member's birthday (in the programme's time zone), with the `birthday`
    action's points when its rule is active, once a year."""
    today = timezone.localdate(now)
    members = Member.objects.filter(status=ACTIVE, birth_date__month=today.month,
                                    birth_date__day=today.day)
    for member in members.only("pk"):
        event_id = f"birthday:{today.year}:{member.pk}"
        actions.award_if_active(member=member, event_type="birthday", event_id=event_id, now=now)
        points = (member.action_events.filter(event_id=event_id)
                  .values_list("points_earned", flat=True).first() or 0)
        yield _message(journey, member_id=member.pk, occasion=f"{today.year}:{member.pk}",
                       points=points, path=reverse("rewards:catalogue"))


def points_expiring(journey: Journey, now: datetime) -> Iterator[Message]:
    """Spendable points that expire on the day `days` from today: one message per member
    and day, with the amount and the date."""
    day = timezone.localdate(now) + timedelta(days=journey.days)
    zone = timezone.get_current_timezone()
    groups = (PointsLot.objects
              .filter(released=True, remaining__gt=0, member__status=ACTIVE,
                      expires_at__gt=now, expires_at__lte=now + timedelta(days=journey.days + 1))
              .annotate(day=TruncDate("expires_at", tzinfo=zone)).filter(day=day)
              .values("member_id").annotate(points=Sum("remaining"), first=Min("expires_at"))
              .order_by())
    for group in groups:
        yield _message(journey, member_id=group["member_id"],
                       occasion=f"{group['member_id']}:{day.isoformat()}",
                       points=group["points"], date=day.isoformat(),
                       path=reverse("rewards:catalogue"))


def tier_reached(journey: Journey, now: datetime) -> Iterator[Message]:
    ranks = {tier.pk: tier.rank for tier in all_tiers()}
    changes = (TierChange.objects.filter(at__gt=now - CATCH_UP, at__lte=now,
                                         to_tier__isnull=False, member__status=ACTIVE)
               .values_list("pk", "member_id", "from_tier_id", "to_tier_id"))
    for pk, member_id, from_id, to_id in changes:
        if from_id is None or ranks.get(to_id, 0) > ranks.get(from_id, 0):
            yield _message(journey, member_id=member_id, occasion=str(pk), tier_id=to_id,
                           path=reverse("home"))


def tier_at_risk(journey: Journey, now: datetime) -> Iterator[Message]:
    """Members the rolling window would drop a tier `days` from now, with the points that
    would keep it; once per member and tier in a window's time."""
    by_id = {tier.pk: tier for tier in all_tiers()}
    then = now + timedelta(days=journey.days)
    for chunk in tiers.members_whose_tier_changes(now=then):
        values = tiers.qualifying_values(member_ids=chunk, now=then)
        current = dict(Member.objects.filter(pk__in=chunk, tier__isnull=False)
                       .values_list("pk", "tier_id"))
        for member_id, tier_id in current.items():
            tier = by_id.get(tier_id)
            target = tiers.tier_for(values[member_id], list(by_id.values()))
            if tier is None or (target is not None and target.rank >= tier.rank):
                continue
            missing = max(int(tier.threshold - values[member_id]), 1)
            yield _message(journey, member_id=member_id,
                           occasion=f"{member_id}:{tier_id}:{then.date().isoformat()[:7]}",
                           tier_id=tier_id, points=missing, date=then.date().isoformat(),
                           path=reverse("home"))


def reward_within_reach(journey: Journey, now: datetime) -> Iterator[Message]:
    """Fewer than `points_within` points from the cheapest reward they cannot buy yet;
    at most once a month per reward."""
    from rewards.models import Reward

    month = timezone.localdate(now).strftime("%Y-%m")
    rewards = (Reward.objects.filter(active=True).exclude(available_until__lte=now)
               .order_by("points_cost"))
    seen: set[int] = set()
    for reward in rewards:
        members = (Member.objects.filter(status=ACTIVE, balance__lt=reward.points_cost,
                                         balance__gte=reward.points_cost - journey.points_within)
                   .exclude(pk__in=seen).values_list("pk", "balance"))
        for member_id, balance in members:
            seen.add(member_id)
            yield _message(journey, member_id=member_id,
                           occasion=f"{member_id}:{reward.pk}:{month}", reward_id=reward.pk,
                           points=reward.points_cost - balance, path=reverse("rewards:catalogue"))


def win_back(journey: Journey, now: datetime) -> Iterator[Message]:
    """On entering the at-risk or lapsed stage (the insight run's stages), with a voucher
    when the journey gives one (written with the message, see `offers`)."""
    periods = (StagePeriod.objects
               .filter(stage__in=[Stage.AT_RISK, Stage.LAPSED], entered_at__gt=now - CATCH_UP,
                       entered_at__lte=now, left_at__isnull=True, member__status=ACTIVE)
               .values_list("pk", "member_id"))
    offer = offers.context_for(journey, now)  # a voucher, if any
    for pk, member_id in periods:
        yield _message(journey, member_id=member_id, occasion=str(pk),
                       path=reverse("rewards:vouchers" if offer else "rewards:catalogue"),
                       **offer)


def review_request(journey: Journey, now: datetime) -> Iterator[Message]:
    """`days` after a purchase not reviewed nor refunded in full: one per purchase, linking
    to its review page."""
    due = now - timedelta(days=journey.days)
    purchases = (Purchase.objects
                 .filter(occurred_at__gt=due - CATCH_UP, occurred_at__lte=due,
                         member__status=ACTIVE, review__isnull=True,
                         refunded_amount__lt=F("amount"))
                 .values_list("pk", "member_id", "occurred_at"))
    for pk, member_id, occurred_at in purchases:
        yield _message(journey, member_id=member_id, occasion=str(pk), purchase_id=pk,
                       date=timezone.localdate(occurred_at).isoformat(),
                       path=reverse("review-purchase", args=[pk]))


FINDERS = {Kind.WELCOME: welcome, Kind.SECOND_PURCHASE: second_purchase, Kind.BIRTHDAY: birthday,
           Kind.POINTS_EXPIRING: points_expiring, Kind.TIER_REACHED: tier_reached,
           Kind.TIER_AT_RISK: tier_at_risk, Kind.REWARD_WITHIN_REACH: reward_within_reach,
           Kind.WIN_BACK: win_back, Kind.REVIEW_REQUEST: review_request}


def run_journeys(*, now: datetime | None = None) -> dict[str, int]:
    """Fire every active journey: how many messages each queued (0 for an occasion that
    was already queued or sent)."""
    now = now or timezone.now()
    queued = {}
    for journey in (Journey.objects.filter(active=True).select_related("voucher_reward")
                    .order_by("-priority")):
        finder = FINDERS.get(journey.kind)
        if finder is not None:
            queued[journey.kind] = delivery.queue(
                finder(journey, now), now=now, on_written=offers.for_journey(journey, now))
    return queued
