"""Segments: each kind of condition, priority, the history, and segment_changed webhooks."""

import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from loyalty.models import (
    Member,
    MemberInsight,
    Segment,
    SegmentPeriod,
    SegmentRule,
    Stage,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from loyalty.services.insight import run_insight, segments
from loyalty.services.insight.clock import Clock
from tests.factories import TierFactory
from tests.loyalty.services.insight.shop import NOW, PARIS, buy, insight, members, purchase, shop

pytestmark = pytest.mark.django_db


def run(at=NOW):
    with time_machine.travel(at, tick=False):
        return run_insight(with_clv=False)


def segment_of(customer) -> str | None:
    row = insight(customer)
    return row.segment.code if row.segment_id else None


@pytest.fixture
def own_rules():
    """Only the test's own segments: the seeded ones are switched off."""
    Segment.objects.update(active=False)
    priorities = iter(range(1000, 2000, 10))

    def rule(code, **conditions):
        segment, _created = Segment.objects.get_or_create(code=code, defaults={"name": code})
        tiers = conditions.pop("tiers", [])
        made = SegmentRule.objects.create(segment=segment, priority=conditions.pop(
            "priority", next(priorities)), **conditions)
        made.tiers.set(tiers)
        return made

    return rule


def spread(count=10):
    """`count` customers, the i-th with i+1 purchases of 10 € each, the last 20i+1 days ago."""
    customers = members(count)
    buy([(customer, NOW - timedelta(days=20 * index + visit + 1), "10.00")
         for index, customer in enumerate(customers) for visit in range(index + 1)])
    return customers


def test_the_seeded_rules_put_the_best_customers_in_champions_before_loyal():
    customers = spread(10)
    buy([(customer, NOW, "500.00") for customer in customers[-2:]])
    run()
    best = insight(customers[-1])
    assert (best.r, best.f, best.m) == (5, 5, 5)
    assert segment_of(customers[-1]) == "champions"  # loyal (priority 20) matches too
    assert segment_of(customers[0]) is not None


def test_every_member_with_purchases_gets_one_of_the_seeded_segments():
    customers = spread(25)
    prospect = members(1)[0]
    run()
    assert all(segment_of(customer) for customer in customers)
    assert segment_of(prospect) is None


def test_rules_are_tried_by_priority_across_segments(own_rules):
    own_rules("second", priority=1020)
    own_rules("first", priority=1010, stages=[Stage.PROSPECT])
    prospect, customer = members(2)
    purchase(customer, days_ago=1)
    run()
    assert (segment_of(prospect), segment_of(customer)) == ("first", "second")
    SegmentRule.objects.filter(priority=1010).update(priority=1030)
    run(NOW + timedelta(hours=1))
    assert segment_of(prospect) == "second"


def test_score_ranges_are_inclusive_and_need_a_score(own_rules):
    own_rules("recent", r_min=4)
    own_rules("middle", f_min=2, f_max=3, m_max=4)
    customers = spread(5)
    prospect = members(1)[0]
    run()
    got = {(row.r, row.f, row.m): row.segment.code if row.segment_id else None
           for row in MemberInsight.objects.filter(member__in=customers)
           .select_related("segment")}
    for (r, f, m), code in got.items():
        expected = "recent" if r >= 4 else "middle" if 2 <= f <= 3 and m <= 4 else None
        assert code == expected, (r, f, m)
    assert set(got.values()) >= {"recent", "middle"}
    assert segment_of(prospect) is None


def test_a_stage_list_matches_those_stages(own_rules):
    own_rules("fresh", stages=[Stage.NEW, Stage.PROSPECT])
    new, lapsed, prospect = members(3)
    purchase(new, days_ago=3)
    purchase(lapsed, days_ago=500)
    run()
    assert [segment_of(c) for c in (new, lapsed, prospect)] == ["fresh", None, "fresh"]


def test_a_tier_list_matches_members_of_those_tiers(own_rules):
    gold, silver = TierFactory(code="gold", rank=2), TierFactory(code="silver", rank=1)
    own_rules("precious", tiers=[gold, silver])
    golden, silvery, plain = members(3)
    Member.objects.filter(pk=golden.pk).update(tier=gold)
    Member.objects.filter(pk=silvery.pk).update(tier=silver)
    run()
    assert [segment_of(c) for c in (golden, silvery, plain)] == ["precious", "precious", None]


def test_predicted_value_bounds_are_inclusive_and_need_a_prediction(own_rules):
    own_rules("valuable", predicted_value_min=Decimal("100.00"),
              predicted_value_max=Decimal("500.00"))
    customers = members(4)
    run()
    for customer, value in zip(customers, ("99.99", "100.00", "500.00", None), strict=True):
        MemberInsight.objects.filter(member=customer).update(
            predicted_value=Decimal(value) if value else None)
    run(NOW + timedelta(hours=1))
    assert [segment_of(c) for c in customers] == [None, "valuable", "valuable", None]


def test_days_since_joining_are_whole_local_days(own_rules):
    own_rules("week_one", joined_days_min=1, joined_days_max=7)
    today, yesterday, week, eight_days = members(4)
    for customer, joined in ((today, datetime(2025, 6, 15, 0, 5, tzinfo=PARIS)),
                             (yesterday, datetime(2025, 6, 14, 23, 55, tzinfo=PARIS)),
                             (week, datetime(2025, 6, 8, 0, 0, tzinfo=PARIS)),
                             (eight_days, datetime(2025, 6, 7, 23, 59, tzinfo=PARIS))):
        Member.objects.filter(pk=customer.pk).update(created_at=joined)
    run()
    assert [segment_of(c) for c in (today, yesterday, week, eight_days)] == [
        None, "week_one", "week_one", None]


def test_inactive_segments_and_no_rules_mean_no_segment(own_rules):
    rule = own_rules("everyone")
    customer = members(1)[0]
    run()
    assert segment_of(customer) == "everyone"
    rule.segment.active = False
    rule.segment.save()
    run(NOW + timedelta(hours=1))
    assert segment_of(customer) is None
    assert insight(customer).segment_since is None


def test_rule_values_are_parameters_not_sql_text(own_rules):
    gold = TierFactory(code="gold")
    rule = own_rules("odd", r_min=2, m_max=4, predicted_value_min=Decimal("1234.56"),
                     stages=["lapsed"], tiers=[gold], joined_days_min=17)
    condition, params = segments.rule_condition(rule, clock=Clock.at(NOW))
    assert "1234" not in condition and "lapsed" not in condition
    assert condition.count("%s") == len(params) == 6
    assert Decimal("1234.56") in params and "lapsed" in params and gold.pk in params


def test_the_history_records_entering_and_leaving_and_segment_since(own_rules):
    own_rules("buyers", f_min=1)
    customer = members(1)[0]
    run()
    assert segment_of(customer) is None
    purchase(customer, at=NOW + timedelta(days=1))
    run(NOW + timedelta(days=2))
    run(NOW + timedelta(days=3))
    assert insight(customer).segment_since == NOW + timedelta(days=2)
    customer.purchases.update(refunded_amount=Decimal("10.00"))
    run(NOW + timedelta(days=4))
    assert (segment_of(customer), insight(customer).segment_since) == (None, None)
    assert list(SegmentPeriod.objects.filter(member=customer).values_list(
        "segment__code", "entered_at", "left_at")) == [
        ("buyers", NOW + timedelta(days=2), NOW + timedelta(days=4))]


def test_segment_changes_are_announced_once_with_old_and_new_codes(own_rules):
    WebhookEndpoint.objects.create(store=shop(), url="https://shop.example/hooks",
                                   events=[WebhookEvent.MEMBER_SEGMENT_CHANGED])
    own_rules("big", m_min=5)
    own_rules("small", f_min=1)
    background = members(6)
    mover, leaver, stayer = members(3)
    buy([(customer, NOW - timedelta(days=5), f"{index + 1}.00")
         for index, customer in enumerate(background)])
    buy([(mover, NOW - timedelta(days=5), "7.00"), (leaver, NOW - timedelta(days=5), "50.00"),
         (stayer, NOW - timedelta(days=5), "0.50")])
    run()
    assert not WebhookDelivery.objects.exists()  # the programme's first run
    assert [segment_of(c) for c in (mover, leaver, stayer)] == ["small", "big", "small"]
    purchase(mover, at=NOW + timedelta(hours=1), amount="100.00")
    leaver.purchases.update(refunded_amount=Decimal("50.00"))
    later = NOW + timedelta(days=1)
    for _ in range(2):
        run(later)
    run(later + timedelta(days=1))
    sent = {json.loads(body)["data"]["member_id"]: (key, json.loads(body)["data"])
            for key, body in WebhookDelivery.objects.values_list("event_key", "body")}
    assert set(sent) == {mover.pk, leaver.pk}
    entered = SegmentPeriod.objects.get(member=mover, left_at=None)
    left = SegmentPeriod.objects.get(member=leaver)
    assert sent[mover.pk][0] == f"segment:{mover.pk}:{entered.pk}"
    assert (sent[mover.pk][1]["from"], sent[mover.pk][1]["to"]) == ("small", "big")
    assert sent[leaver.pk][0] == f"segment:{leaver.pk}:left:{left.pk}"
    assert (sent[leaver.pk][1]["from"], sent[leaver.pk][1]["to"]) == ("big", None)
    assert segment_of(stayer) == "small"
