"""History lines are rendered when shown, in the reader's language, from what each entry
records (loyalty/services/history.py); staff-typed texts have a column per language."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import formats, timezone, translation

from loyalty.models import PointsEntry, Tier
from loyalty.money import format_money
from loyalty.services import actions, history, ledger
from loyalty.services.purchases import record_purchase, record_refund
from rewards.models import Reward
from tests.factories import (
    ActionRuleFactory,
    MultiplierFactory,
    StoreFactory,
    TierFactory,
    make_member,
    programme,
)

DRAWN = "till-0123456789abcdef0123456789abcdef"
NOV_29 = datetime(2026, 11, 29, 15, 30, tzinfo=timezone.get_fixed_timezone(60))


def in_tier(tier):
    from loyalty.models import Member

    member = make_member()
    Member.objects.filter(pk=member.pk).update(tier=tier)
    return member


def line(entry, language: str) -> str:
    with translation.override(language):
        return history.describe_entry(PointsEntry.objects.get(pk=entry.pk))


@pytest.fixture
def gold(db):
    return TierFactory(code="gold", name_en="Gold", name_fr="Or", rank=1,
                       earn_multiplier=Decimal("1.5"))


def purchase_entry(member, store, order_id, *, at=None, amount="20.00"):
    recorded = record_purchase(store=store, order_id=order_id, amount=amount, member=member,
                               occurred_at=at, now=at)
    return recorded.obj.entry


def test_a_tier_bonus_reads_in_the_readers_language_with_the_tier_name_in_it(
        scale, store, gold):
    member = in_tier(gold)
    with translation.override("fr"):  # caused by a French cashier: stored as no sentence
        entry = purchase_entry(member, store, "A100")
    assert entry.reason == ""
    assert entry.details["lines"][1] == {"source": "tier", "rule_id": gold.pk,
                                         "factor": "1.5", "points": 10}

    english, french = line(entry, "en"), line(entry, "fr")
    assert english == "purchase #A100 at Paris, Gold tier ×1.5"
    assert "palier Or ×1,5" in french and "Gold" not in french and "tier" not in french


def test_a_multiplier_line_names_the_multiplier_in_the_readers_language(scale, store):
    MultiplierFactory(name_en="Double points weekend", name_fr="Week-end points doublés",
                      factor=Decimal("2"))
    entry = purchase_entry(make_member(), store, "A101")
    assert line(entry, "en").endswith(", Double points weekend ×2")
    assert line(entry, "fr").endswith(", Week-end points doublés ×2")


def test_a_french_reader_sees_no_english_reason_for_an_action(db):
    ActionRuleFactory(event_type="newsletter_signup", name_en="Newsletter sign-up",
                      name_fr="Inscription à la newsletter", points=20)
    member = make_member()
    with translation.override("en"):  # caused in English
        event = actions.record_action(member=member, event_type="newsletter_signup",
                                      event_id="n-1").obj
    assert event.entry.reason == ""
    assert line(event.entry, "fr") == "Inscription à la newsletter"
    assert line(event.entry, "en") == "Newsletter sign-up"


def test_a_till_purchase_without_a_receipt_reads_the_store_and_the_day(scale, store):
    entry = purchase_entry(make_member(), store, DRAWN, at=NOV_29)
    english, french = line(entry, "en"), line(entry, "fr")
    assert english == "purchase in store at Paris, 29 Nov"
    assert "29 nov." in french and "Paris" in french
    assert "till-" not in english + french and DRAWN[5:] not in english + french


def test_an_online_order_and_a_receipt_read_their_number(scale, store, web_store):
    online = purchase_entry(make_member(), web_store, "WEB-42")
    till = purchase_entry(make_member(), store, "R-0042")
    assert line(online, "en") == "purchase #WEB-42 at E-shop"
    assert line(till, "en") == "purchase #R-0042 at Paris"
    assert line(online, "fr") == "achat n° WEB-42 chez E-shop"


def test_a_refund_names_the_purchase_never_a_drawn_id(scale, store):
    bought = record_purchase(store=store, order_id=DRAWN, amount="20.00",
                             member=make_member(), occurred_at=NOV_29, now=NOV_29).obj
    refund = record_refund(purchase=bought, refund_id="r-1", amount="10.00").obj
    assert refund.entry.details["event"] == history.REFUND
    english = line(refund.entry, "en")
    assert "in store at Paris, 29 Nov" in english and "till-" not in english


def test_an_expiry_reads_its_date_in_the_readers_format(db):
    programme(return_window_days=0)
    member = make_member()
    earned = datetime(2026, 1, 10, 12, tzinfo=timezone.get_fixed_timezone(60))
    with ledger_transaction():
        locked = ledger.lock_member(member.pk)
        ledger.apply_credit(locked, kind=PointsEntry.Kind.EARN, points=5, reference="t",
                            details={"event": "test"}, now=earned,
                            expires_at=earned + timedelta(days=1))
    (expiry,) = ledger.bring_member_up_to_date(member_id=member.pk,
                                               now=earned + timedelta(days=2))
    assert expiry.reason == "" and expiry.details["earned_on"] == "2026-01-10"
    assert line(expiry, "en") == "Points earned on 10 Jan 2026 expired"
    assert "10 jan. 2026" in line(expiry, "fr")


def ledger_transaction():
    from django.db import transaction

    return transaction.atomic()


def test_a_staff_adjustment_shows_the_note_as_typed(db):
    member = make_member()
    entry = ledger.adjust_points(member_id=member.pk, points=7, reason="Geste commercial")
    assert line(entry, "en") == line(entry, "fr") == "Geste commercial"


def test_old_entries_render_from_their_purchase_or_their_reason(scale, store):
    member = make_member()
    entry = purchase_entry(member, store, DRAWN, at=NOV_29)
    # As written before `details`: a sentence in the language of whoever caused it.
    PointsEntry.objects.filter(pk=entry.pk).update(details={}, reason="Purchase x at Paris")
    assert line(entry, "en") == "purchase in store at Paris, 29 Nov"
    old = ledger.adjust_points(member_id=member.pk, points=3, reason="Gold tier ×1.5")
    PointsEntry.objects.filter(pk=old.pk).update(details={})
    assert line(old, "fr") == "Gold tier ×1.5"


def test_a_page_of_entries_costs_a_query_per_kind_of_name(scale, store, django_assert_num_queries):
    member = make_member()
    for number in range(10):
        purchase_entry(member, store, f"A{number}")
    entries = list(PointsEntry.objects.filter(member=member))
    with django_assert_num_queries(1):  # the store; the rules come from the cached scale
        lines = history.describe_entries(entries)
    assert lines[0] == "purchase #A9 at Paris"


def test_the_api_breakdown_names_follow_the_readers_language(scale, store, gold):
    member = in_tier(gold)
    entry = purchase_entry(member, store, "A200")
    with translation.override("fr"):
        lines = history.breakdown_lines(entry.purchase.points_breakdown)
    assert [item["rule"] for item in lines] == ["1 point per euro", "palier Or ×1,5"]


# --- One mechanism for staff-typed texts -------------------------------------------------


def test_a_french_reader_sees_the_english_text_where_french_is_empty(db):
    reward = Reward.objects.create(name_en="Tote bag", name_fr="", description_en="A bag",
                                   kind=Reward.Kind.GIFT, points_cost=100)
    tier = TierFactory(name_en="Silver", name_fr="Argent", benefits_en="Free delivery")
    with translation.override("fr"):
        reward.refresh_from_db()
        tier = Tier.objects.get(pk=tier.pk)
        assert (reward.name, reward.description) == ("Tote bag", "A bag")
        assert (tier.name, tier.benefit_list) == ("Argent", ["Free delivery"])
    reward.name_fr = "Sac en toile"
    reward.save()
    with translation.override("fr"):
        assert Reward.objects.get(pk=reward.pk).name == "Sac en toile"
    with translation.override("en"):
        assert Reward.objects.get(pk=reward.pk).name == "Tote bag"


def test_a_text_given_while_french_is_active_still_fills_the_english_fallback(db):
    with translation.override("fr"):
        tier = Tier.objects.create(code="argent", name="Argent", rank=3)
    assert (tier.name_en, tier.name_fr) == ("Argent", "Argent")
    with translation.override("en"):
        assert Tier.objects.get(pk=tier.pk).name == "Argent"


def test_the_rewards_migration_keeps_the_french_text_and_fills_the_english_one(db):
    """rewards 0002 on rows as 0001 left them: name -> name_en, name_fr kept."""
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("rewards.migrations.0003_reward_translations")
    state = MigrationLoader(connection).project_state(("rewards", "0003_reward_translations"))
    Historical = state.apps.get_model("rewards", "Reward")
    Historical.objects.create(name="Tote bag", name_fr="Sac en toile", description="A bag",
                              description_fr="Un sac", kind="gift", points_cost=100,
                              name_en=None, description_en=None)

    migration.english_from_original(state.apps, None)

    row = Historical.objects.values("name_en", "name_fr", "description_en",
                                    "description_fr").get()
    assert row == {"name_en": "Tote bag", "name_fr": "Sac en toile", "description_en": "A bag",
                   "description_fr": "Un sac"}
    with translation.override("fr"):
        assert Reward.objects.get().name == "Sac en toile"


# --- One format per language -------------------------------------------------------------


def test_money_dates_and_numbers_have_one_format_per_language(db):
    programme(currency="EUR")
    day = date(2026, 11, 29)
    with translation.override("en"):
        assert format_money(Decimal("42.50")) == "€42.50"
        assert format_money(Decimal("1234.5")) == "€1,234.50"
        assert formats.date_format(day) == "29 Nov 2026"
        assert formats.date_format(day, "SHORT_DATE_FORMAT") == "29 Nov 2026"
    with translation.override("fr"):
        assert format_money(Decimal("42.50")) == "42,50\xa0€"
        assert format_money(Decimal("1234.5")).replace("\u202f", "\xa0") == "1\xa0234,50\xa0€"
        assert formats.date_format(day) == "29 nov. 2026"
        assert format_money(Decimal("-5"), "CHF") == "-5,00\xa0CHF"
    with translation.override("en"):
        assert format_money(Decimal("5"), "CHF") == "CHF\xa05.00"


def test_the_money_filter_uses_the_programmes_currency(db):
    programme(currency="GBP")
    template = Template("{% load money %}{{ amount|money }}")
    with translation.override("en"):
        assert template.render(Context({"amount": Decimal("3")})) == "£3.00"
    with translation.override("fr"):
        assert template.render(Context({"amount": Decimal("3")})) == "3,00\xa0£"


def test_the_store_of_a_line_is_named_as_it_is_now(scale):
    store = StoreFactory(code="lyon", name="Lyon")
    entry = purchase_entry(make_member(), store, "L-1")
    store.name = "Lyon Part-Dieu"
    store.save()
    assert line(entry, "en") == "purchase #L-1 at Lyon Part-Dieu"
