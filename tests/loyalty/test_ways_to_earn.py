"""The public "ways to earn": sentences generated from the rules' own numbers, never from a
label that can disagree with them; nothing ended or not yet begun passed off as current."""

from datetime import datetime
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import translation

from loyalty import ways_to_earn as module
from loyalty.models import Campaign
from loyalty.ways_to_earn import describe_scale, ways_to_earn
from tests.factories import (
    ActionRuleFactory,
    EarningRuleFactory,
    MultiplierFactory,
    StoreFactory,
    TierFactory,
    programme,
)

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
TODAY = datetime(2026, 11, 10, 12, 0, tzinfo=PARIS)


def at(month, day, year=2026):
    return datetime(year, month, day, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(TODAY, tick=False):
        yield


def texts():
    return describe_scale()


def test_a_spend_rule_says_its_own_rate_not_its_label():
    rule = EarningRuleFactory(name="Triple points on everything!", points_per_unit=1)
    [way] = ways_to_earn()
    assert way.text == "1 point per €1 spent"
    assert way.title == rule.name and way.kind == "spend"
    assert "Triple" not in " ".join(texts())


@pytest.mark.parametrize(("per_unit", "expected"), [
    ("2", "2 points per €1 spent"),
    ("1.5", "1.5 points per €1 spent"),
    ("0.1", "1 point per €10 spent"),
    ("0", "No points"),
])
def test_the_rate_is_written_from_the_number(per_unit, expected):
    EarningRuleFactory(points_per_unit=Decimal(per_unit))
    assert texts() == [expected]


def test_a_spend_rule_says_its_basket_minimum_cap_category_and_channel():
    EarningRuleFactory(points_per_unit=3, category="Shoes", min_basket=Decimal("50"),
                       max_points=300, channel="online")
    assert texts() == ["3 points per €1 spent on Shoes, on baskets of €50 or more, up to 300 "
                       "points per purchase, online only"]


def test_a_multiplier_says_its_factor_category_dates_and_channel():
    MultiplierFactory(name="Black Friday", factor=2, category="Shoes",
                      starts_at=at(11, 1), ends_at=at(12, 1), channel="online")
    # The end is excluded: a rule until 1 Dec 00:00 runs through 30 Nov.
    assert texts() == ["×2 points on Shoes, 1–30 Nov., online only"]


def test_an_ended_offer_is_not_advertised():
    MultiplierFactory(name="Black Friday 2025", factor=3, starts_at=at(11, 28, 2025),
                      ends_at=at(11, 29, 2025))
    MultiplierFactory(name="Ended this morning", factor=2, ends_at=at(11, 10))
    assert texts() == []


def test_an_offer_not_yet_begun_is_upcoming_with_its_dates():
    MultiplierFactory(name="Black Friday", factor=2, starts_at=at(11, 27), ends_at=at(11, 30))
    MultiplierFactory(name="Winter", factor=Decimal("1.5"), starts_at=at(12, 20))
    [friday, winter] = ways_to_earn()
    assert friday.upcoming and friday.text == "×2 points, 27–29 Nov."
    assert winter.upcoming and winter.text == "×1.5 points, from 20 Dec."


def test_a_running_offer_is_current_and_a_range_over_the_new_year_gives_years():
    MultiplierFactory(factor=2, starts_at=at(11, 1), ends_at=at(1, 16, 2027))
    [way] = ways_to_earn()
    assert not way.upcoming
    assert way.text == "×2 points, 1 Nov. 2026–15 Jan. 2027"


def test_weekdays_store_and_tier_are_said():
    paris = StoreFactory(code="paris", name="Paris")
    gold = TierFactory(code="gold", name="Gold", rank=2)
    MultiplierFactory(factor=2, weekdays="76", store=paris, tier=gold)
    assert texts() == ["×2 points, for Gold members, on Saturday, Sunday only, at Paris"]


def test_rules_of_a_closed_store_and_inactive_rules_are_hidden():
    closed = StoreFactory(code="old", name="Old shop", active=False)
    EarningRuleFactory(points_per_unit=5, store=closed)
    MultiplierFactory(factor=2, store=closed)
    EarningRuleFactory(points_per_unit=4, active=False)
    ActionRuleFactory(event_type="review_posted", points=50, active=False)
    assert texts() == []


def test_a_campaign_offer_is_not_a_public_promise():
    campaign = Campaign.objects.create(name="Win-back", subject="Hi", body="Back?")
    MultiplierFactory(factor=3, campaign=campaign)
    assert texts() == []


def test_a_tier_bonus_is_said_from_its_multiplier():
    TierFactory(code="bronze", name="Bronze", rank=0)
    TierFactory(code="gold", name="Gold", rank=2, earn_multiplier=Decimal("1.50"))
    assert texts() == ["×1.5 points on purchases for Gold members"]


def test_actions_say_their_points_and_limits():
    ActionRuleFactory(event_type="review_posted", name="Reviews!!", points=50)
    ActionRuleFactory(event_type="newsletter_signup", name="Newsletter", points=1,
                      limit_count=1, limit_period="ever")
    ActionRuleFactory(event_type="birthday", name="Birthday", points=100, limit_count=1,
                      limit_period="year")
    ActionRuleFactory(event_type="shared_on_social", name="Share us", points=10,
                      limit_count=3, limit_period="week")
    ActionRuleFactory(event_type="nothing", name="Worth nothing", points=0)
    ways = {way.title: way.text for way in ways_to_earn()}
    assert ways == {
        "Birthday": "100 points on your birthday, once a year",
        "Newsletter": "1 point for signing up to our emails, once only",
        "Reviews!!": "50 points for a review, once per purchase",
        "Share us": "10 points, up to 3 times a week",
    }


def test_the_programme_caps_are_said():
    programme(max_points_per_day=500, max_points_per_purchase=1)
    assert texts() == ["Capped at 1 point per purchase", "Capped at 500 points a day"]


def test_in_french_numbers_and_dates_are_french():
    EarningRuleFactory(points_per_unit=Decimal("1.5"))
    MultiplierFactory(factor=2, starts_at=at(11, 20), ends_at=at(12, 1))
    with translation.override("fr"):
        spend, offer = texts()
    assert "1,5" in spend
    assert "20–30 nov." in offer


def test_every_word_goes_through_gettext():
    """The French catalogue is the lead's: here, that each sentence is made of translated
    pieces (a marking gettext shows up in every piece of every sentence)."""
    EarningRuleFactory(points_per_unit=1, category="Shoes", channel="in_store")
    MultiplierFactory(factor=2, starts_at=at(11, 20))
    ActionRuleFactory(event_type="review_posted", points=50, limit_count=2,
                      limit_period="day")
    programme(max_points_per_day=500)

    def mark(text):
        return f"[{text}]"

    with mock.patch.object(module, "_", side_effect=mark), \
            mock.patch.object(module, "ngettext",
                              side_effect=lambda one, many, n: mark(one if n == 1 else many)), \
            mock.patch.object(module, "pgettext", side_effect=lambda context, text: text):
        lines = texts()
    # Each piece came back marked: only the commas between the pieces and the rule's own
    # data (its category, numbers) are outside a translated string.
    assert lines == [
        "[[1 point per €1 spent] on Shoes], [in store only]",
        "[×2 points], [from 20 Nov.]",
        "[50 points for a review], [once per purchase], [up to 2 times a day]",
        "[Capped at 500 points a day]",
    ]
