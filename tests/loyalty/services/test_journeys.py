"""The journeys fire at the right moment, once per occasion, whatever the reruns."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.models import Journey, Message, Stage, StagePeriod
from loyalty.services import ledger, tiers
from loyalty.services.messaging import journeys
from loyalty.services.purchases import record_purchase
from rewards.models import Reward
from tests.factories import ActionRuleFactory, TierFactory, make_member, programme

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=PARIS)
Kind = Journey.Kind


@pytest.fixture(autouse=True)
def _paris(settings):
    settings.TIME_ZONE = "Europe/Paris"
    timezone.activate(PARIS)
    yield
    timezone.deactivate()


def switch_on(*kinds, **fields):
    Journey.objects.filter(kind__in=kinds).update(active=True, **fields)


def run(at=NOON):
    with time_machine.travel(at, tick=False):
        return journeys.run_journeys(now=at)


def credit(member, points, *, at, expires_at=None):
    with transaction.atomic():
        locked = ledger.lock_member(member.pk)
        ledger.apply_credit(locked, kind="adjust", points=points, reason="test",
                            reference="test", now=at, expires_at=expires_at, qualifying=True,
                            earned=True)


def test_nothing_fires_while_every_journey_is_off(member):
    assert run() == {}
    assert not Message.objects.exists()


def test_birthday_fires_once_a_year_with_its_points(member):
    ActionRuleFactory(event_type="birthday", name="Birthday", points=50, limit_count=1,
                      limit_period="year")
    member.birth_date = date(1990, 11, 27)
    member.save()
    switch_on(Kind.BIRTHDAY)
    assert run() == {"birthday": 1}
    assert run(NOON + timedelta(hours=1)) == {"birthday": 0}  # the hourly rerun
    message = Message.objects.get()
    assert (message.occasion, message.context["points"]) == (
        f"birthday:2026:{member.pk}", 50)
    member.refresh_from_db()
    assert member.balance == 50  # credited once
    assert run(NOON + timedelta(days=1)) == {"birthday": 0}
    assert run(NOON.replace(year=2027)) == {"birthday": 1}


def test_points_expiring_fire_days_before_with_amount_and_date(member):
    switch_on(Kind.POINTS_EXPIRING, days=30)
    expires = NOON + timedelta(days=30, hours=3)
    credit(member, 40, at=NOON - timedelta(days=300), expires_at=expires)
    credit(member, 2, at=NOON - timedelta(days=200), expires_at=expires + timedelta(hours=1))
    credit(member, 9, at=NOON - timedelta(days=10), expires_at=NOON + timedelta(days=90))
    assert run() == {"points_expiring": 1}
    message = Message.objects.get()
    assert message.context["points"] == 42
    assert message.context["date"] == "2026-12-27"
    assert run(NOON + timedelta(hours=2)) == {"points_expiring": 0}


def test_second_purchase_nudges_a_one_time_buyer_only(store, scale):
    switch_on(Kind.SECOND_PURCHASE, days=14)
    once, twice = make_member(email="once@example.com"), make_member(email="twice@example.com")
    first = NOON - timedelta(days=14, hours=1)
    record_purchase(store=store, order_id="O1", amount="10.00", member=once, occurred_at=first,
                    now=first)
    record_purchase(store=store, order_id="T1", amount="10.00", member=twice, occurred_at=first,
                    now=first)
    record_purchase(store=store, order_id="T2", amount="10.00", member=twice,
                    occurred_at=first + timedelta(days=3), now=first + timedelta(days=3))
    assert run() == {"second_purchase": 1}
    assert Message.objects.get().member == once


def test_welcome_fires_for_new_members_once(member):
    switch_on(Kind.WELCOME)
    with time_machine.travel(NOON, tick=False):
        fresh = make_member(email="fresh@example.com")
    assert run(NOON + timedelta(minutes=30)) == {"welcome": 1}
    assert run(NOON + timedelta(hours=2)) == {"welcome": 0}
    assert Message.objects.get().member == fresh


def test_tier_reached_fires_on_a_promotion_not_a_demotion(member):
    switch_on(Kind.TIER_REACHED)
    silver = TierFactory(code="silver", name="Silver", rank=1, threshold=100)
    gold = TierFactory(code="gold", name="Gold", rank=2, threshold=500)
    with time_machine.travel(NOON - timedelta(hours=1), tick=False):
        tiers.set_tier(member_id=member.pk, tier=gold)
        tiers.set_tier(member_id=member.pk, tier=silver)
    assert run() == {"tier_reached": 1}
    assert Message.objects.get().context["tier_id"] == gold.pk


def test_tier_at_risk_says_what_keeps_the_tier(member):
    programme(tier_window_days=365, tier_basis="points")
    switch_on(Kind.TIER_AT_RISK, days=30)
    TierFactory(code="bronze", name="Bronze", rank=0, threshold=0)
    gold = TierFactory(code="gold", name="Gold", rank=1, threshold=500)
    credit(member, 600, at=NOON - timedelta(days=350))  # leaves the window in 15 days
    credit(member, 100, at=NOON - timedelta(days=100))
    tiers.set_tier(member_id=member.pk, tier=gold)
    assert run() == {"tier_at_risk": 1}
    message = Message.objects.get()
    assert (message.context["tier_id"], message.context["points"]) == (gold.pk, 400)
    assert run(NOON + timedelta(days=1)) == {"tier_at_risk": 0}


def test_reward_within_reach_names_the_reward_and_the_gap(member):
    switch_on(Kind.REWARD_WITHIN_REACH, points_within=100)
    reward = Reward.objects.create(name="Tote bag", kind="gift", value=Decimal("0"),
                                   points_cost=500)
    far = make_member(email="far@example.com")
    credit(member, 450, at=NOON - timedelta(days=5))
    credit(far, 300, at=NOON - timedelta(days=5))
    assert run() == {"reward_within_reach": 1}
    message = Message.objects.get()
    assert (message.member, message.context) == (member, {
        "reward_id": reward.pk, "points": 50, "path": "/rewards/"})


def test_win_back_fires_on_entering_at_risk_or_lapsed(member):
    switch_on(Kind.WIN_BACK)
    StagePeriod.objects.create(member=member, stage=Stage.AT_RISK,
                               entered_at=NOON - timedelta(hours=3))
    other = make_member(email="loyal@example.com")
    StagePeriod.objects.create(member=other, stage=Stage.LOYAL,
                               entered_at=NOON - timedelta(hours=3))
    assert run() == {"win_back": 1}
    assert Message.objects.get().member == member


def test_review_request_links_to_the_review_page_of_an_unreviewed_purchase(
        store, scale, member):
    from loyalty.services.reviews import post_review

    switch_on(Kind.REVIEW_REQUEST, days=3)
    bought = NOON - timedelta(days=3, hours=2)
    for order in ("R1", "R2", "R3"):
        record_purchase(store=store, order_id=order, amount="20.00", member=member,
                        occurred_at=bought, now=bought)
    reviewed, refunded, waiting = member.purchases.order_by("order_id")
    post_review(member=member, purchase_id=reviewed.pk, rating=5, now=NOON)
    from loyalty.services.purchases import record_refund

    record_refund(purchase=refunded, refund_id="RF", amount="20.00", now=bought)
    assert run() == {"review_request": 1}
    message = Message.objects.get()
    assert message.context["purchase_id"] == waiting.pk
    assert message.context["path"] == f"/history/purchases/{waiting.pk}/review/"
    assert run(NOON + timedelta(hours=5)) == {"review_request": 0}


def test_finding_the_occasions_takes_the_same_queries_for_many_members(store, scale):
    switch_on(Kind.POINTS_EXPIRING, Kind.WIN_BACK, Kind.SECOND_PURCHASE, Kind.WELCOME,
              days=30)

    def population(count, tag):
        for n in range(count):
            with time_machine.travel(NOON - timedelta(minutes=5), tick=False):
                someone = make_member(email=f"{tag}{n}@example.com")
            credit(someone, 10, at=NOON - timedelta(days=300),
                   expires_at=NOON + timedelta(days=30, hours=2))
            StagePeriod.objects.create(member=someone, stage=Stage.LAPSED,
                                       entered_at=NOON - timedelta(hours=1))

    population(3, "few")
    with CaptureQueriesContext(connection) as few:
        assert run()["points_expiring"] == 3
    population(30, "many")
    with CaptureQueriesContext(connection) as many:
        assert run(NOON + timedelta(minutes=1))["points_expiring"] == 30
    # bulk inserts of 500 a statement: 33 members fit in one
    assert len(many.captured_queries) == len(few.captured_queries)
