"""A French customer reads French everywhere: a member with a demo-like history switches
the site to French on a phone, and the rendered text of home, card, rewards, history and
profile holds no English sentence of the catalogue.

The English sentences are the catalogue's own (locale/fr/LC_MESSAGES/django.po): every
msgid whose French text differs from it. A page that shows one of them in French has a
string left untranslated (a msgid without its msgstr in the compiled catalogue), or a
sentence built outside gettext; staff-typed texts come in French from their French
columns (django-modeltranslation), history lines from the entries' details.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import polib
import pytest
from django.utils import timezone

from loyalty.models import ActionRule, EarningRule, Member, Tier
from loyalty.services import actions, ledger
from loyalty.services.purchases import record_purchase
from rewards.models import Reward
from rewards.services import redeem_reward
from tests.browser.conftest import open_page
from tests.factories import MultiplierFactory, StoreFactory, programme

pytestmark = pytest.mark.django_db(transaction=True)

CATALOGUE = (Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES"
             / "django.po")
PAGES = ("/", "/card/", "/rewards/", "/rewards/vouchers/", "/history/", "/profile/")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\{\s*[\w.]+\s*\}\}|\{\w*\}")
WORD = re.compile(r"[A-Za-z]{2,}")


@cache
def english_sentences() -> list[tuple[str, re.Pattern]]:
    """(msgid, pattern) for each English text of the catalogue that French changes: the
    placeholders match anything on one line; texts of a single word are left out (a word
    alone, "Total", can be French too)."""
    found = []
    for entry in polib.pofile(str(CATALOGUE)):
        if entry.obsolete or not entry.msgid:
            continue
        pairs = [(entry.msgid, entry.msgstr)]
        if entry.msgid_plural:
            french = list(entry.msgstr_plural.values())
            pairs = [(entry.msgid, french[0] if french else ""),
                     (entry.msgid_plural, french[-1] if french else "")]
        for english, french in pairs:
            if not french.strip() or french == english:
                continue
            literal = PLACEHOLDER.sub(" ", english)
            if len(WORD.findall(literal)) < 2:
                continue
            parts = [re.escape(" ".join(part.split())) for part in PLACEHOLDER.split(english)]
            pattern = r"[^\n]*?".join(part.replace(r"\ ", r"\s+") for part in parts)
            found.append((english, re.compile(pattern.strip())))
    return found


def english_in(text: str) -> list[str]:
    return [english for english, pattern in english_sentences() if pattern.search(text)]


@pytest.fixture
def demo_like(shop):
    """Marie with what a demo member has: tiers, rules, rewards, purchases at the till
    (no receipt) and online, an action, a reward redeemed, a staff adjustment; every
    staff-typed text given in English and in French, as the demo does."""
    paris, marie = shop["paris"], shop["marie"]
    web = StoreFactory(code="web", name="E-shop", kind="online")
    programme(currency="EUR", return_window_days=0, points_validity_days=365)
    for rule in EarningRule.objects.all():  # the shop's "1 point per euro", in French too
        rule.name_fr = "1 point par euro"
        rule.save()
    MultiplierFactory(name_en="Double points on shoes", name_fr="Points doublés sur les "
                      "chaussures", factor=Decimal("2"), category="shoes")
    Tier.objects.create(code="bronze", name_en="Bronze", name_fr="Bronze", rank=0,
                        threshold=0)
    silver = Tier.objects.create(
        code="silver", name_en="Silver", name_fr="Argent", rank=1, threshold=100,
        earn_multiplier=Decimal("1.25"), benefits_en="Free delivery\nEarly access to sales",
        benefits_fr="Livraison offerte\nAccès anticipé aux soldes")
    Tier.objects.create(code="gold", name_en="Gold", name_fr="Or", rank=2, threshold=5000,
                        earn_multiplier=Decimal("1.5"), benefits_en="A gift every season",
                        benefits_fr="Un cadeau chaque saison")
    ActionRule.objects.create(event_type="newsletter_signup", name_en="Newsletter sign-up",
                              name_fr="Inscription à la newsletter", points=20)
    tote = Reward.objects.create(
        name_en="Organic cotton tote bag", name_fr="Tote bag en coton bio",
        description_en="Our tote bag, to collect in store.",
        description_fr="Notre tote bag, à retirer en boutique.",
        kind=Reward.Kind.GIFT, points_cost=60)
    Reward.objects.create(name_en="€5 voucher", name_fr="Bon d'achat de 5 €",
                          description_en="€5 off a purchase, in store or online.",
                          description_fr="5 € de réduction sur un achat.",
                          kind=Reward.Kind.AMOUNT, value=Decimal("5"), points_cost=50)
    Reward.objects.create(name_en="Private shopping evening", name_fr="Soirée privée",
                          kind=Reward.Kind.EXPERIENCE, points_cost=4000, tier_required=silver)
    now = timezone.now()
    record_purchase(store=paris, order_id="till-" + "0123456789abcdef" * 2, amount="84.00",
                    member=marie, occurred_at=now - timedelta(days=20))
    record_purchase(store=web, order_id="WEB-1042", amount="42.50", member=marie,
                    items=[{"sku": "SH-1", "category": "shoes", "quantity": 1,
                            "unit_price": "42.50"}], occurred_at=now - timedelta(days=9))
    record_purchase(store=paris, order_id="R-2026-118", amount="19.90", member=marie,
                    occurred_at=now - timedelta(days=2))
    actions.record_action(member=marie, event_type="newsletter_signup", event_id="nl-marie")
    redeem_reward(member=marie, reward_id=tote.pk, redemption_id="portal-tote")
    ledger.adjust_points(member_id=marie.pk, points=15,
                         reason="Geste commercial : colis arrivé en retard")
    Member.objects.filter(pk=marie.pk).update(language="")
    return marie


def test_a_french_customer_reads_no_english_on_home_card_rewards_history_and_profile(
        browser, live_server, shop, demo_like):
    assert len(english_sentences()) > 200  # the scan has something to look for
    watched = open_page(browser, live_server, user=shop["marie"].user)
    page = watched.page
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert english_in(page.locator("body").inner_text())  # it does find English in English

    # The language switch of the profile page's footer (it saves the member's language too).
    page.goto("/profile/")
    switch = page.locator("form.language-form").first
    switch.locator("select[name=language]").select_option("fr")
    with page.expect_navigation():
        switch.locator("[type=submit]").click()
    page.locator("html[lang=fr]").wait_for(state="attached")

    found = {}
    for path in PAGES:
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == "fr", path
        text = page.title() + "\n" + page.locator("body").inner_text()
        english = english_in(text)
        if english:
            found[path] = english
    assert found == {}, f"English sentences on French pages: {found}"
    assert watched.csp_violations == []
