"""Lifecycle stages: the rules, their order, the history, and the stage_changed webhooks."""

import json
from datetime import datetime, timedelta

import pytest
import time_machine

from loyalty.models import (
    MemberInsight,
    Stage,
    StagePeriod,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from loyalty.services.insight import run_insight
from tests.factories import programme
from tests.loyalty.services.insight.shop import (
    NOW,
    buy,
    insight,
    member,
    members,
    purchase,
    shop,
)

pytestmark = pytest.mark.django_db


def run(at=NOW):
    with time_machine.travel(at, tick=False):
        return run_insight(with_clv=False)


def stage(customer) -> str:
    return insight(customer).stage


def endpoint(*events):
    return WebhookEndpoint.objects.create(
        store=shop(), url="https://shop.example/hooks",
        events=list(events) or [WebhookEvent.MEMBER_STAGE_CHANGED])


def deliveries(event=WebhookEvent.MEMBER_STAGE_CHANGED) -> list[dict]:
    return [json.loads(body)["data"] | {"key": key} for key, body in
            WebhookDelivery.objects.filter(event=event).order_by("id")
            .values_list("event_key", "body")]


def test_a_one_time_customer_goes_from_prospect_to_new_to_at_risk_to_lapsed():
    customer = member()
    run(NOW - timedelta(days=1))
    assert stage(customer) == Stage.PROSPECT
    purchase(customer, at=NOW)
    run(NOW)
    assert stage(customer) == Stage.NEW
    run(NOW + timedelta(days=89))
    assert stage(customer) == Stage.NEW
    run(NOW + timedelta(days=90))
    assert stage(customer) == Stage.AT_RISK
    run(NOW + timedelta(days=364))
    assert stage(customer) == Stage.AT_RISK
    run(NOW + timedelta(days=365))
    assert stage(customer) == Stage.LAPSED


def test_a_repeat_customer_is_at_risk_once_past_their_usual_gap_times_the_factor():
    regular, other = members(2)
    # Every 30 days for ten months: a usual gap of 30 days.
    buy([(regular, NOW - timedelta(days=30 * n), "40.00") for n in range(10)])
    purchase(other, days_ago=200)
    run(NOW)
    assert stage(regular) in (Stage.ACTIVE, Stage.LOYAL)
    run(NOW + timedelta(days=60))
    assert stage(regular) in (Stage.ACTIVE, Stage.LOYAL)
    run(NOW + timedelta(days=60, seconds=1))
    assert stage(regular) == Stage.AT_RISK
    programme(at_risk_gap_factor="3.00")
    run(NOW + timedelta(days=61))
    assert stage(regular) != Stage.AT_RISK


def test_new_customers_are_new_whatever_their_first_gaps():
    customer = member()
    buy([(customer, NOW - timedelta(days=10), "10.00"), (customer, NOW - timedelta(days=9),
                                                         "10.00")])
    run(NOW)
    assert stage(customer) == Stage.NEW


def test_repeat_buyers_who_buy_often_and_recently_are_loyal():
    population = members(10)
    for index, customer in enumerate(population):
        buy([(customer, NOW - timedelta(days=100 + 3 * visit + index), "25.00")
             for visit in range(index + 1)])
    best = population[-1]
    purchase(best, days_ago=2)
    steady = member()
    buy([(steady, NOW - timedelta(days=20), "25.00"), (steady, NOW - timedelta(days=200),
                                                       "25.00")])
    run(NOW)
    row = insight(best)
    assert (row.f, row.r >= 3) == (5, True)
    assert row.stage == Stage.LOYAL
    # A repeat buyer within their usual gap, buying less often than most: merely active.
    assert (insight(steady).f, insight(steady).stage) == (1, Stage.ACTIVE)


def test_a_low_probability_of_being_active_puts_a_customer_at_risk():
    customer, other = members(2)
    buy([(customer, NOW - timedelta(days=20 * (n + 1)), "30.00") for n in range(5)])
    purchase(other, days_ago=300)
    run(NOW)
    assert stage(customer) == Stage.ACTIVE
    MemberInsight.objects.filter(member=customer).update(p_alive=0.29)
    run(NOW)
    assert stage(customer) == Stage.AT_RISK
    MemberInsight.objects.filter(member=customer).update(p_alive=0.31)
    run(NOW)
    assert stage(customer) == Stage.ACTIVE


def test_lapsed_comes_before_everything_else_and_prospects_have_no_purchase():
    lapsed, prospect = members(2)
    buy([(lapsed, NOW - timedelta(days=365 + n), "10.00") for n in range(5)])
    run(NOW)
    assert (stage(lapsed), stage(prospect)) == (Stage.LAPSED, Stage.PROSPECT)


def test_stage_since_moves_only_when_the_stage_changes_and_the_history_follows():
    customer = member()
    purchase(customer, at=NOW)
    run(NOW)
    run(NOW + timedelta(days=10))
    assert insight(customer).stage_since == NOW
    run(NOW + timedelta(days=100))
    assert insight(customer).stage_since == NOW + timedelta(days=100)
    history = list(StagePeriod.objects.filter(member=customer).order_by("id")
                   .values_list("stage", "entered_at", "left_at"))
    assert history == [(Stage.NEW, NOW, NOW + timedelta(days=100)),
                       (Stage.AT_RISK, NOW + timedelta(days=100), None)]


def test_stage_changes_are_announced_once_and_not_on_the_first_run():
    hook = endpoint()
    customer, newcomer = members(2)
    purchase(customer, at=NOW)
    run(NOW)
    assert deliveries() == []  # the first run classifies everybody: no news
    run(NOW + timedelta(days=100))
    run(NOW + timedelta(days=100))
    run(NOW + timedelta(days=101))
    sent = deliveries()
    period = StagePeriod.objects.get(member=customer, left_at=None)
    assert [datetime.fromisoformat(d.pop("at")) for d in sent] == [NOW + timedelta(days=100)]
    assert sent == [{"member_id": customer.pk, "card_number": customer.card_number,
                     "from": "new", "to": "at_risk", "key": f"stage:{customer.pk}:{period.pk}"}]
    assert WebhookDelivery.objects.get().endpoint == hook
    assert newcomer.pk not in {delivery["member_id"] for delivery in sent}


def test_a_member_staged_for_the_first_time_after_the_first_run_comes_from_nothing():
    endpoint()
    member()
    run(NOW)
    latecomer = member()
    run(NOW + timedelta(days=1))
    assert [(d["member_id"], d["from"], d["to"]) for d in deliveries()] == [
        (latecomer.pk, None, "prospect")]


def test_without_a_subscribed_endpoint_no_delivery_is_written():
    endpoint(WebhookEvent.POINTS_EARNED)
    customer = member()
    purchase(customer, at=NOW)
    run(NOW)
    run(NOW + timedelta(days=100))
    assert insight(customer).stage == Stage.AT_RISK
    assert not WebhookDelivery.objects.exists()
