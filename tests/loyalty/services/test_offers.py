"""What journeys and campaigns give with their messages: the win-back's voucher, the
campaign's voucher offer, the second purchase's bonus on the next purchase only."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import (
    Campaign,
    CampaignMember,
    Journey,
    Member,
    Message,
    PurchaseBonus,
    Stage,
    StagePeriod,
)
from loyalty.services import campaigns, purchases
from loyalty.services.audit import audit_ledger
from loyalty.services.messaging import journeys, render
from rewards.models import Voucher
from rewards.services import redeem_voucher
from tests.factories import StoreFactory
from tests.rewards.helpers import reward

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


def switch_on(kind, **fields) -> Journey:
    journey = Journey.objects.get(kind=kind)
    for name, value in {"active": True, **fields}.items():
        setattr(journey, name, value)
    journey.save()  # through save: the points scale is told (a bonus may exist now)
    return journey


def run(at=NOON):
    with time_machine.travel(at, tick=False):
        return journeys.run_journeys(now=at)


def at_risk(member, at=NOON - timedelta(hours=3)) -> StagePeriod:
    return StagePeriod.objects.create(member=member, stage=Stage.AT_RISK, entered_at=at)


# --- win-back: a voucher that expires ---------------------------------------------------------


def test_win_back_gives_a_voucher_with_its_message_once(member):
    item = reward(name="5 € off", value=Decimal("5"), active=False)
    switch_on(Kind.WIN_BACK, voucher_reward=item, voucher_days=10)
    at_risk(member)
    assert run() == {"win_back": 1}
    message = Message.objects.get()
    voucher = Voucher.objects.get()
    assert (voucher.member, voucher.source, voucher.occasion_key, voucher.expires_at) == (
        member, "journey", message.occasion, NOON + timedelta(days=10))
    assert (voucher.kind, voucher.value) == ("amount_voucher", Decimal("5.00"))
    assert message.context["path"] == "/rewards/vouchers/"
    assert run(NOON + timedelta(hours=1)) == {"win_back": 0}  # a rerun: nothing new
    assert Voucher.objects.count() == 1
    assert audit_ledger().violations == []


def test_the_win_back_message_shows_the_voucher_code_and_its_expiry(member):
    switch_on(Kind.WIN_BACK, voucher_reward=reward(name="5 € off"), voucher_days=10)
    at_risk(member)
    run()
    voucher = Voucher.objects.get()
    rendered = render.render(Message.objects.get(), member)
    assert voucher.formatted_code in rendered.text
    assert "valid until 7 Dec 2026" in rendered.text  # NOON + 10 days, in the member's language
    assert "5 € off" in rendered.text


def test_a_typed_text_naming_the_code_is_not_given_the_sentence_twice(member):
    switch_on(Kind.WIN_BACK, voucher_reward=reward(), body="Code {{ voucher_code }} until "
              "{{ voucher_expiry }}.")
    at_risk(member)
    run()
    voucher = Voucher.objects.get()
    text = render.render(Message.objects.get(), member).text
    assert text.startswith(f"Code {voucher.formatted_code} until ")
    assert text.count(voucher.formatted_code) == 1


def test_the_voucher_and_its_message_are_written_together_or_not_at_all(member, monkeypatch):
    import rewards.services

    switch_on(Kind.WIN_BACK, voucher_reward=reward())
    at_risk(member)

    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(rewards.services, "grant_vouchers", broken)
    with pytest.raises(RuntimeError):
        run()
    assert not Message.objects.exists() and not Voucher.objects.exists()


def test_without_a_voucher_set_win_back_gives_none(member):
    switch_on(Kind.WIN_BACK)
    at_risk(member)
    assert run() == {"win_back": 1}
    assert not Voucher.objects.exists()
    assert "voucher" not in Message.objects.get().context


def test_the_given_voucher_is_used_at_the_till(member):
    switch_on(Kind.WIN_BACK, voucher_reward=reward())
    at_risk(member)
    run()
    voucher = Voucher.objects.get()
    with time_machine.travel(NOON + timedelta(days=1), tick=False):
        assert redeem_voucher(code=voucher.formatted_code, order_id="T1",
                              store=StoreFactory(code="paris")).created


# --- second purchase: a bonus on the next purchase only -------------------------------------


def first_purchase(member, store, order_id="F1"):
    at = NOON - timedelta(days=14, hours=1)
    return purchases.record_purchase(store=store, order_id=order_id, amount="10.00",
                                     member=member, occurred_at=at, now=at).obj


def buy(member, store, order_id, amount, at):
    with time_machine.travel(at, tick=False):
        return purchases.record_purchase(store=store, order_id=order_id, amount=amount,
                                         member=member, occurred_at=at, now=at).obj


@pytest.fixture
def nudged(store, scale, member):
    """The second-purchase journey with ×2 for 7 days, fired for a one-time buyer."""
    switch_on(Kind.SECOND_PURCHASE, days=14, bonus_factor=Decimal("2"), bonus_days=7)
    first_purchase(member, store)
    assert run() == {"second_purchase": 1}
    return member


def test_the_second_purchase_message_gives_a_bonus_once(nudged):
    message = Message.objects.get()
    bonus = PurchaseBonus.objects.get()
    assert (bonus.member, bonus.occasion_key, bonus.factor, bonus.points) == (
        nudged, message.occasion, Decimal("2.00"), 0)
    assert (bonus.starts_at, bonus.expires_at) == (NOON, NOON + timedelta(days=7))
    assert message.context["bonus"] == {"factor": "2", "points": 0, "until": "2026-12-04"}
    assert "Your next purchase by 4 Dec 2026 earns points ×2." in render.render(
        message, nudged).text
    run(NOON + timedelta(hours=1))
    assert PurchaseBonus.objects.count() == 1


def test_the_next_purchase_earns_the_bonus_and_the_one_after_does_not(nudged, store):
    second = buy(nudged, store, "S2", "20.00", NOON + timedelta(days=2))
    assert second.points_earned == 40
    line = [line for line in second.points_breakdown if line["source"] == "bonus"]
    bonus = PurchaseBonus.objects.get()
    assert line == [{"rule": "Next-purchase bonus ×2", "points": 20, "source": "bonus",
                     "rule_id": bonus.pk, "factor": "2"}]
    assert (bonus.purchase, bonus.used_at) == (second, NOON + timedelta(days=2))
    third = buy(nudged, store, "S3", "20.00", NOON + timedelta(days=3))
    assert third.points_earned == 20
    assert audit_ledger().violations == []


def test_a_refund_takes_the_bonus_back_in_proportion(nudged, store):
    second = buy(nudged, store, "S2", "20.00", NOON + timedelta(days=2))
    with time_machine.travel(NOON + timedelta(days=3), tick=False):
        refund = purchases.record_refund(purchase=second, refund_id="R1", amount="10.00").obj
    assert refund.points_reversed == 20  # half of 40: the rule's 10 and the bonus's 10
    nudged.refresh_from_db()
    assert nudged.balance == 10 + 20
    assert audit_ledger().violations == []


def test_the_bonus_is_gone_after_its_days(nudged, store):
    late = buy(nudged, store, "S2", "20.00", NOON + timedelta(days=7, seconds=1))
    assert late.points_earned == 20
    assert PurchaseBonus.objects.get().used_at is None


def test_a_purchase_dated_before_the_message_does_not_take_the_bonus(nudged, store):
    before = buy(nudged, store, "S2", "20.00", NOON - timedelta(hours=1))
    assert before.points_earned == 20
    assert PurchaseBonus.objects.get().used_at is None


def test_extra_points_are_added_to_the_next_purchase_whatever_it_earns(store, scale, member):
    switch_on(Kind.SECOND_PURCHASE, days=14, bonus_points=50, bonus_days=7)
    first_purchase(member, store)
    run()
    second = buy(member, store, "S2", "3.00", NOON + timedelta(days=1))
    assert second.points_earned == 3 + 50
    assert {"rule": "Next-purchase bonus +50", "points": 50, "source": "bonus",
            "rule_id": PurchaseBonus.objects.get().pk, "extra": 50} in second.points_breakdown
    assert "earns 50 extra points" in render.render(Message.objects.get(), member).text


def test_the_bonus_keeps_its_terms_when_the_journey_changes_afterwards(nudged, store):
    switch_on(Kind.SECOND_PURCHASE, bonus_factor=Decimal("5"), active=False)
    second = buy(nudged, store, "S2", "20.00", NOON + timedelta(days=1))
    assert second.points_earned == 40  # the ×2 given, not the ×5 set since


def test_a_purchase_looks_for_no_bonus_while_none_can_exist(store, scale, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    purchases.record_purchase(store=store, order_id="W", amount="1.00", member=member)
    with CaptureQueriesContext(connection) as queries:
        purchases.record_purchase(store=store, order_id="X", amount="1.00", member=member)
    assert not [q for q in queries.captured_queries if "purchasebonus" in q["sql"]]


def test_only_the_second_purchase_journey_may_give_a_bonus_and_only_win_back_a_voucher():
    from django.core.exceptions import ValidationError

    welcome = Journey.objects.get(kind=Kind.WELCOME)
    welcome.bonus_points = 10
    welcome.voucher_reward = reward()
    with pytest.raises(ValidationError) as error:
        welcome.full_clean()
    assert {"bonus_factor", "voucher_reward"} <= set(error.value.message_dict)


# --- a campaign's voucher offer ----------------------------------------------------------------


def consenting(count: int) -> list[int]:
    Member.objects.bulk_create([Member(card_number=f"c{i:07d}", email=f"c{i}@example.com",
                                       email_marketing=True) for i in range(count)])
    return list(Member.objects.filter(card_number__startswith="c").values_list("pk", flat=True))


def voucher_campaign(**fields) -> Campaign:
    return Campaign.objects.create(**{
        "name": "Come back", "subject": "Hi {{ first_name }}", "body": "A gift for you.",
        "status": Campaign.Status.SENDING, "holdout_percent": 20, "offer": "voucher",
        "offer_reward": reward(name="10 € off"), "offer_ends_at": NOON + timedelta(days=30),
        **fields})


def test_the_voucher_offer_gives_the_sent_group_one_each_and_the_holdout_none():
    consenting(200)
    campaign = voucher_campaign()
    campaigns.send_campaign(campaign_id=campaign.pk, now=NOON)
    sent = set(CampaignMember.objects.filter(campaign=campaign, group="sent")
               .values_list("member_id", flat=True))
    holdout = set(CampaignMember.objects.filter(campaign=campaign, group="holdout")
                  .values_list("member_id", flat=True))
    assert sent and holdout
    vouchers = Voucher.objects.filter(source="campaign")
    assert set(vouchers.values_list("member_id", flat=True)) == sent
    assert vouchers.count() == len(sent)
    assert set(vouchers.values_list("expires_at", flat=True)) == {NOON + timedelta(days=30)}
    assert not Voucher.objects.filter(member_id__in=holdout).exists()
    message = Message.objects.filter(campaign=campaign).first()
    voucher = vouchers.get(member_id=message.member_id)
    assert voucher.occasion_key == message.occasion
    text = render.render(message, message.member).text
    assert text.startswith("A gift for you.") and voucher.formatted_code in text
    # The results still compare the groups as drawn.
    results = campaigns.results(Campaign.objects.get(), now=NOON + timedelta(days=1))
    assert (results.sent.members, results.holdout.members) == (len(sent), len(holdout))


def test_the_voucher_offer_is_given_once_across_reruns():
    consenting(50)
    campaign = voucher_campaign()
    campaigns.send_campaign(campaign_id=campaign.pk, now=NOON)
    given = Voucher.objects.count()
    assert campaigns.send_campaign(campaign_id=campaign.pk, now=NOON) == 0
    campaign.refresh_from_db()
    batch = list(Message.objects.filter(campaign=campaign))
    campaigns._queue(campaign, batch, now=NOON)  # the same batch again: a retried chunk
    assert Voucher.objects.count() == given


def test_a_voucher_offer_needs_a_reward_and_an_end():
    from django.core.exceptions import ValidationError

    campaign = Campaign(name="x", subject="s", body="b", offer="voucher")
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert {"offer_reward", "offer_ends_at"} <= set(error.value.message_dict)


def test_a_message_queued_before_the_voucher_was_set_gets_none_on_a_rerun(member):
    switch_on(Kind.WIN_BACK)
    at_risk(member)
    assert run() == {"win_back": 1}
    switch_on(Kind.WIN_BACK, voucher_reward=reward())
    assert run(NOON + timedelta(hours=1)) == {"win_back": 0}
    assert not Voucher.objects.exists()  # its message, already written, does not offer one


def test_the_bonus_line_is_said_in_the_readers_language(nudged, store):
    from django.utils import translation

    from loyalty.services import history

    second = buy(nudged, store, "S2", "20.00", NOON + timedelta(days=2))
    bonus = PurchaseBonus.objects.get()
    assert second.entry.details["lines"][-1] == {"source": "bonus", "rule_id": bonus.pk,
                                                  "factor": "2", "points": 20}
    with translation.override("fr"):
        lines = history.breakdown_lines(second.points_breakdown)
    assert lines[-1]["rule"] == "Bonus sur le prochain achat ×2"


def test_the_offer_sentence_counts_points_and_writes_the_factor_the_readers_way():
    from django.utils import translation

    bonus = {"bonus": {"until": "2026-12-04", "factor": "1.5", "points": 1}}
    with translation.override("en"):
        assert render.offer_sentence(bonus, None) == (
            "Your next purchase by 4 Dec 2026 earns points ×1.5, and 1 extra point.")
    with translation.override("fr"):
        assert "×1,5" in render.offer_sentence(bonus, None)
