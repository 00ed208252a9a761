from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from loyalty.services.earning import evaluate_purchase, lines_for, load_scale
from tests.factories import EarningRuleFactory, MultiplierFactory, TierFactory, programme

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
WEDNESDAY = datetime(2026, 11, 25, 12, 0, tzinfo=PARIS)
SATURDAY = datetime(2026, 11, 28, 12, 0, tzinfo=PARIS)


def evaluate(store, amount, items=(), *, at=WEDNESDAY, tier=None, earned_today=0):
    return evaluate_purchase(scale=load_scale(), store=store, occurred_at=at,
                             amount=Decimal(amount), items=items, tier=tier,
                             earned_today=earned_today)


def item(sku, price, quantity=1, category=""):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": Decimal(price)}


def test_points_per_euro_round_down_once(store, scale):
    result = evaluate(store, "49.99")
    assert result.points == 49
    assert result.breakdown == [{"rule": "1 point per euro", "points": 49, "source": "rule",
                                 "rule_id": scale.pk}]


def test_points_are_earned_on_what_was_paid_after_a_voucher(store, scale):
    # Items worth 100 €, a 20 € voucher: the customer paid 80 € and earns 80 points.
    assert evaluate(store, "80.00", [item("A", "60.00"), item("B", "40.00")]).points == 80


def test_what_the_amount_holds_beyond_the_items_earns_like_an_untyped_line(store, scale):
    assert lines_for(amount=Decimal("105.00"), items=[item("A", "100.00")])[-1].amount == 5
    assert evaluate(store, "105.00", [item("A", "100.00")]).points == 105


def test_a_category_rule_that_does_not_stack_replaces_the_base_rule_on_its_lines(store, scale):
    EarningRuleFactory(name="3 per euro on shoes", points_per_unit=3, category="shoes",
                       priority=10, stackable=False)
    result = evaluate(store, "150.00", [item("S1", "100.00", category="Shoes"),
                                        item("T1", "50.00", category="tops")])
    assert result.points == 350
    assert {line["rule"]: line["points"] for line in result.breakdown} == {
        "3 per euro on shoes": 300, "1 point per euro": 50}


def test_a_stacking_sku_rule_adds_to_the_base_rule(store, scale):
    EarningRuleFactory(name="Bonus on SKU", points_per_unit=2, sku="X", priority=5)
    assert evaluate(store, "30.00", [item("X", "10.00"), item("Y", "20.00")]).points == 50


def test_store_channel_dates_weekdays_and_minimum_basket_filter_rules(store, web_store, scale):
    EarningRuleFactory(name="Web only", points_per_unit=1, channel="online")
    EarningRuleFactory(name="Paris only", points_per_unit=1, store=store)
    EarningRuleFactory(name="Weekend", points_per_unit=1, weekdays="67")
    EarningRuleFactory(name="Big basket", points_per_unit=1, min_basket=Decimal("100"))
    EarningRuleFactory(name="Past promo", points_per_unit=1,
                       starts_at=WEDNESDAY - timedelta(days=10),
                       ends_at=WEDNESDAY - timedelta(days=1))
    rules = lambda result: {line["rule"] for line in result.breakdown}  # noqa: E731
    assert rules(evaluate(store, "10.00")) == {"1 point per euro", "Paris only"}
    assert rules(evaluate(web_store, "10.00", at=SATURDAY)) == {
        "1 point per euro", "Web only", "Weekend"}
    assert "Big basket" in rules(evaluate(store, "100.00"))


def test_multipliers_add_their_bonus_to_what_they_match(store, scale):
    MultiplierFactory(name="Double weekend", factor=Decimal("2"), weekdays="67")
    MultiplierFactory(name="Shoes", factor=Decimal("1.5"), category="shoes")
    result = evaluate(store, "100.00", [item("S", "40.00", category="shoes"),
                                        item("T", "60.00")], at=SATURDAY)
    assert {line["rule"]: line["points"] for line in result.breakdown} == {
        "1 point per euro": 100, "Double weekend ×2": 100, "Shoes ×1.5": 20}
    assert result.points == 220


def test_a_non_stacking_multiplier_stops_lower_priority_multipliers(store, scale):
    MultiplierFactory(name="Big", factor=Decimal("3"), priority=10, stackable=False)
    MultiplierFactory(name="Small", factor=Decimal("2"), priority=1)
    assert evaluate(store, "10.00").points == 30


def test_the_tier_multiplier_applies_to_purchase_points(store, scale):
    gold = TierFactory(code="gold", name="Gold", rank=2, earn_multiplier=Decimal("1.5"))
    MultiplierFactory(name="Gold weekdays", factor=Decimal("2"), tier=gold)
    result = evaluate(store, "37.00", tier=gold)
    assert {line["rule"]: line["points"] for line in result.breakdown} == {
        "1 point per euro": 37, "Gold weekdays ×2": 37, "Gold tier ×1.5": 18}
    assert evaluate(store, "37.00").points == 37  # the tier multiplier needs the tier


def test_caps_per_rule_per_purchase_and_per_day(store, scale):
    EarningRuleFactory(name="Capped bonus", points_per_unit=1, max_points=10)
    assert evaluate(store, "100.00").points == 110
    programme(max_points_per_purchase=50, max_points_per_day=80)
    capped = evaluate(store, "100.00")
    assert capped.points == 50
    assert capped.breakdown[-1] == {"rule": "Cap per purchase", "points": -60, "source": "cap",
                                    "rule_id": None, "cap": "purchase"}
    assert evaluate(store, "100.00", earned_today=60).points == 20
    assert evaluate(store, "100.00", earned_today=500).points == 0


def test_inactive_rules_and_a_zero_amount_earn_nothing(store, scale):
    scale.active = False
    scale.save()
    assert evaluate(store, "100.00").points == 0
    assert evaluate(store, "0.00").breakdown == []


def test_breakdown_always_sums_to_the_points(store, scale):
    MultiplierFactory(name="x1.33", factor=Decimal("1.33"))
    EarningRuleFactory(name="0.37", points_per_unit=Decimal("0.37"), category="c")
    for cents in range(1, 3000, 97):
        amount = Decimal(cents) / 100
        result = evaluate(store, amount, [item("A", amount, category="c")],
                          at=timezone.now())
        assert result.points == sum(line["points"] for line in result.breakdown)
