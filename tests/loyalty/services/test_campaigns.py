"""Campaigns with a holdout: the audience, the draw, sending once, the offer, the results."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.models import (
    Campaign,
    CampaignMember,
    Member,
    MemberInsight,
    Message,
    Purchase,
    Segment,
    Stage,
)
from loyalty.services import campaigns, purchases
from loyalty.services.campaigns import AudienceFilter, GroupResult
from loyalty.services.messaging import render
from tests.factories import (
    MemberInsightFactory,
    StoreFactory,
    TierFactory,
    make_member,
)

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=PARIS)
Group = CampaignMember.Group


def campaign(**fields) -> Campaign:
    segments = fields.pop("segments", ())
    tiers = fields.pop("tiers", ())
    fields = {"name": "Win-back", "subject": "We miss you, {{ first_name }}",
              "body": "Come back: {{ link }}", "status": Campaign.Status.SENDING, **fields}
    obj = Campaign.objects.create(**fields)
    obj.segments.set(segments)
    obj.tiers.set(tiers)
    return obj


def many_members(count: int, *, consent=True, prefix="m") -> list[int]:
    """Members written in bulk (the draw's statistics need thousands)."""
    Member.objects.bulk_create(
        [Member(card_number=f"{prefix}{i:07d}", email=f"{prefix}{i}@example.com",
                email_marketing=consent) for i in range(count)], batch_size=1000)
    return list(Member.objects.filter(card_number__startswith=prefix)
                .values_list("pk", flat=True))


def consenting(**fields) -> Member:
    member = make_member(**fields)
    Member.objects.filter(pk=member.pk).update(email_marketing=True, sms_marketing=True)
    member.refresh_from_db()
    return member


# --- the audience ------------------------------------------------------------------------------


def test_the_audience_is_every_filter_together_and_counts_those_who_consented():
    at_risk = Segment.objects.get(code="at_risk")
    gold = TierFactory(code="gold", name="Gold", rank=1)
    target = consenting(first_name="Target")
    MemberInsightFactory(member=target, segment=at_risk, stage=Stage.AT_RISK, r=2, f=4, m=3)
    Member.objects.filter(pk=target.pk).update(tier=gold)
    silent = make_member(first_name="No consent")
    MemberInsightFactory(member=silent, segment=at_risk, stage=Stage.AT_RISK, r=2, f=4, m=3)
    Member.objects.filter(pk=silent.pk).update(tier=gold)
    other_segment = consenting()
    MemberInsightFactory(member=other_segment, segment=Segment.objects.get(code="champions"),
                         stage=Stage.AT_RISK, r=2, f=4, m=3)
    Member.objects.filter(pk=other_segment.pk).update(tier=gold)
    low_frequency = consenting()
    MemberInsightFactory(member=low_frequency, segment=at_risk, stage=Stage.AT_RISK, r=2, f=1,
                         m=3)
    Member.objects.filter(pk=low_frequency.pk).update(tier=gold)
    closed = consenting()
    MemberInsightFactory(member=closed, segment=at_risk, stage=Stage.AT_RISK, r=2, f=4, m=3)
    Member.objects.filter(pk=closed.pk).update(tier=gold, status=Member.Status.DELETED)

    filters = AudienceFilter(segment_ids=(at_risk.pk,), stages=(Stage.AT_RISK,),
                             tier_ids=(gold.pk,), scores={"f_min": 3, "r_max": 2})
    assert set(campaigns.audience(filters)) == {target}
    assert campaigns.audience_size(filters) == campaigns.AudienceSize(matching=2, consented=1)
    # No filter: every active member; the channel decides which consent counts.
    Member.objects.filter(pk=silent.pk).update(sms_marketing=True, phone="+33600000001")
    everyone = campaigns.audience_size(AudienceFilter(channel="sms"))
    assert everyone.matching == 4
    assert everyone.consented == 1  # only `silent` has a phone and an SMS consent


def test_a_saved_campaigns_filters_are_read_from_it():
    at_risk = Segment.objects.get(code="at_risk")
    member = consenting()
    MemberInsightFactory(member=member, segment=at_risk, stage=Stage.AT_RISK)
    MemberInsightFactory(member=consenting(), segment=None, stage=Stage.ACTIVE)
    saved = campaign(segments=[at_risk], stages=[Stage.AT_RISK])
    assert list(campaigns.audience(saved)) == [member]
    assert campaigns.audience_size(saved).consented == 1


def test_a_prospect_stage_includes_members_not_scored_yet():
    fresh = consenting()
    scored = consenting()
    MemberInsightFactory(member=scored, stage=Stage.ACTIVE)
    assert list(campaigns.audience(AudienceFilter(stages=(Stage.PROSPECT,)))) == [fresh]


# --- the draw ----------------------------------------------------------------------------------


def test_the_holdout_is_close_to_its_share_and_exactly_reproducible():
    ids = many_members(2000)
    sent = campaign(holdout_percent=10)
    campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
    groups = dict(CampaignMember.objects.filter(campaign=sent)
                  .values_list("member_id", "group"))
    assert set(groups) == set(ids)
    held = sum(1 for group in groups.values() if group == Group.HOLDOUT)
    # 10 % of 2,000: 200, binomial sd ≈ 13.4; four sd either side.
    assert 146 <= held <= 254, held
    # Anyone can check the draw again from the seed (and the database computed the same).
    assert all((groups[pk] == Group.HOLDOUT) == campaigns.in_holdout(sent, pk) for pk in ids)
    # Another campaign, another seed: another draw.
    other = campaign(holdout_percent=10)
    campaigns.send_campaign(campaign_id=other.pk, now=NOW)
    other_groups = dict(CampaignMember.objects.filter(campaign=other)
                        .values_list("member_id", "group"))
    assert other_groups != groups


def test_a_zero_holdout_sends_to_everyone_and_fifty_splits_in_two():
    ids = many_members(400)
    everyone = campaign(holdout_percent=0)
    campaigns.send_campaign(campaign_id=everyone.pk, now=NOW)
    assert not CampaignMember.objects.filter(campaign=everyone, group=Group.HOLDOUT).exists()
    half = campaign(holdout_percent=50)
    campaigns.send_campaign(campaign_id=half.pk, now=NOW)
    held = CampaignMember.objects.filter(campaign=half, group=Group.HOLDOUT).count()
    assert 150 <= held <= 250 and len(ids) == 400


# --- sending -----------------------------------------------------------------------------------


def test_the_sent_group_gets_one_campaign_message_each_and_the_holdout_none():
    many_members(300)
    many_members(50, consent=False, prefix="n")
    sent = campaign(holdout_percent=20)
    queued = campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
    sent.refresh_from_db()
    assert sent.status == Campaign.Status.SENT and sent.sent_at == NOW
    sent_group = set(CampaignMember.objects.filter(campaign=sent, group=Group.SENT)
                     .values_list("member_id", flat=True))
    holdout = set(CampaignMember.objects.filter(campaign=sent, group=Group.HOLDOUT)
                  .values_list("member_id", flat=True))
    assert len(sent_group) + len(holdout) == 300  # the 50 without consent are in neither
    messages = Message.objects.filter(campaign=sent)
    assert queued == len(sent_group) == messages.count()
    assert set(messages.values_list("member_id", flat=True)) == sent_group
    assert not Message.objects.filter(member_id__in=holdout).exists()
    message = messages.first()
    assert (message.kind, message.purpose, message.occasion) == (
        "campaign", "marketing", f"campaign:{sent.pk}:{message.member_id}")


def test_sending_twice_sends_nothing_twice():
    many_members(120)
    sent = campaign()
    first = campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
    assert first > 0
    frozen = list(CampaignMember.objects.filter(campaign=sent).values_list("member_id", "group"))
    many_members(30, prefix="late")  # joined since: not in a campaign already sent
    assert campaigns.send_campaign(campaign_id=sent.pk, now=NOW + timedelta(hours=1)) == 0
    Campaign.objects.filter(pk=sent.pk).update(status=Campaign.Status.SENDING)  # a stale task
    assert campaigns.send_campaign(campaign_id=sent.pk, now=NOW + timedelta(hours=2)) == 0
    assert Message.objects.filter(campaign=sent).count() == first
    assert sorted(frozen) == sorted(CampaignMember.objects.filter(campaign=sent)
                                    .values_list("member_id", "group"))


def test_only_campaigns_due_are_sent_by_the_sweep():
    many_members(20)
    draft = campaign(status=Campaign.Status.DRAFT)
    later = campaign(status=Campaign.Status.SCHEDULED, scheduled_at=NOW + timedelta(hours=1))
    due = campaign(status=Campaign.Status.SCHEDULED, scheduled_at=NOW - timedelta(minutes=3))
    cancelled = campaign(status=Campaign.Status.CANCELLED)
    assert campaigns.send_due(now=NOW) == 1
    assert campaigns.send_due(now=NOW) == 0
    statuses = dict(Campaign.objects.values_list("pk", "status"))
    assert statuses == {draft.pk: "draft", later.pk: "scheduled", due.pk: "sent",
                        cancelled.pk: "cancelled"}
    assert set(Message.objects.values_list("campaign_id", flat=True)) == {due.pk}
    assert campaigns.send_campaign(campaign_id=draft.pk, now=NOW) == 0


def test_a_cancelled_campaign_is_not_sent_and_a_sent_one_cannot_be_cancelled():
    many_members(5)
    pending = campaign()
    campaigns.cancel_campaign(campaign_id=pending.pk)
    assert campaigns.send_campaign(campaign_id=pending.pk, now=NOW) == 0
    assert not CampaignMember.objects.exists()
    sent = campaign()
    campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
    with pytest.raises(campaigns.CampaignNotEditable):
        campaigns.cancel_campaign(campaign_id=sent.pk)
    with pytest.raises(campaigns.CampaignNotEditable):
        campaigns.schedule_campaign(campaign_id=sent.pk)
    with pytest.raises(campaigns.CampaignNotScheduled):
        campaigns.schedule_campaign(campaign_id=campaign(status="draft").pk)


def test_a_campaign_message_is_rendered_from_the_campaigns_text_in_the_members_language():
    english = consenting(first_name="Ada", language="en")
    french = consenting(first_name="Marie", language="fr")
    sent = campaign(holdout_percent=0, subject="We miss you, {{ first_name }}",
                    body="{{ first_name }}, {{ balance }} points wait. {{ settings.SECRET_KEY }}",
                    subject_fr="Vous nous manquez, {{ first_name }}",
                    body_fr="{{ first_name }}, {{ balance }} points vous attendent.")
    campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
    Member.objects.filter(pk=french.pk).update(balance=1234)
    french.refresh_from_db()
    rendered_en = render.render(Message.objects.get(member=english), english)
    rendered_fr = render.render(Message.objects.get(member=french), french)
    assert rendered_en.subject == "We miss you, Ada"
    assert rendered_en.text == "Ada, 0 points wait."
    assert rendered_fr.subject == "Vous nous manquez, Marie"
    assert rendered_fr.text.replace("\u202f", " ").replace("\xa0", " ") == (
        "Marie, 1 234 points vous attendent.")


def test_the_double_points_offer_goes_to_the_sent_group_only(scale):
    store = StoreFactory(code="shop")
    members = [consenting() for _ in range(40)]
    sent = campaign(holdout_percent=50, offer=Campaign.Offer.DOUBLE_POINTS,
                    offer_starts_at=NOW, offer_ends_at=NOW + timedelta(days=7))
    campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
    groups = dict(CampaignMember.objects.values_list("member_id", "group"))
    in_sent = next(m for m in members if groups[m.pk] == Group.SENT)
    held = next(m for m in members if groups[m.pk] == Group.HOLDOUT)
    during = NOW + timedelta(days=1)
    after = NOW + timedelta(days=8)
    earned = {}
    for label, member, at in (("sent", in_sent, during), ("held", held, during),
                              ("sent_after", in_sent, after)):
        recorded = purchases.record_purchase(store=store, order_id=label, amount="50.00",
                                             member=member, occurred_at=at, now=at)
        earned[label] = recorded.obj.points_earned
    assert earned == {"sent": 100, "held": 50, "sent_after": 50}
    message = Message.objects.filter(campaign=sent).first()
    assert message.context["date"] == "2026-11-09"


# --- results -------------------------------------------------------------------------------


def buy(member_id, amount, at, store, n=[0]):  # noqa: B006 - a counter for order ids
    n[0] += 1
    Purchase.objects.create(store=store, order_id=f"o{n[0]}", member_id=member_id,
                            amount=Decimal(amount), occurred_at=at, created_at=at)


def test_results_count_purchasers_and_net_spend_in_the_window_per_group():
    store = StoreFactory(code="shop")
    many_members(200)
    sent = campaign(holdout_percent=25)
    campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
    sent.refresh_from_db()
    sent_ids = list(CampaignMember.objects.filter(campaign=sent, group=Group.SENT)
                    .values_list("member_id", flat=True))
    held_ids = list(CampaignMember.objects.filter(campaign=sent, group=Group.HOLDOUT)
                    .values_list("member_id", flat=True))
    buy(sent_ids[0], "30.00", NOW + timedelta(days=1), store)
    buy(sent_ids[0], "20.00", NOW + timedelta(days=2), store)
    buy(sent_ids[1], "10.00", NOW + timedelta(days=29), store)
    buy(sent_ids[2], "99.00", NOW - timedelta(days=1), store)       # before: not counted
    buy(sent_ids[3], "99.00", NOW + timedelta(days=31), store)      # after the window
    buy(held_ids[0], "40.00", NOW + timedelta(days=3), store)
    Purchase.objects.filter(amount=Decimal("40.00")).update(refunded_amount=Decimal("15.00"))
    result = campaigns.results(sent, now=NOW + timedelta(days=40))
    assert result.complete
    assert (result.sent.members, result.sent.purchasers, result.sent.spend) == (
        len(sent_ids), 2, Decimal("60.00"))
    assert (result.holdout.members, result.holdout.purchasers, result.holdout.spend) == (
        len(held_ids), 1, Decimal("25.00"))
    assert result.sent.spend_squares == Decimal(50 * 50 + 10 * 10)
    assert result.sent.spend_per_member == (Decimal("60") / len(sent_ids)).quantize(
        Decimal("0.01"))
    # While the window runs, the figures so far.
    so_far = campaigns.results(sent, now=NOW + timedelta(days=1, hours=1))
    assert not so_far.complete and so_far.sent.purchasers == 1
    assert campaigns.results(campaign(status="draft")) is None


def test_results_cost_the_same_queries_whatever_the_audience():
    store = StoreFactory(code="shop")
    counts = []
    for size, prefix in ((10, "a"), (400, "b")):
        Member.objects.update(email_marketing=False)
        ids = many_members(size, prefix=prefix)
        sent = campaign(holdout_percent=20)
        campaigns.send_campaign(campaign_id=sent.pk, now=NOW)
        sent.refresh_from_db()
        for member_id in ids[::3]:
            buy(member_id, "12.00", NOW + timedelta(days=1), store)
        with CaptureQueriesContext(connection) as queries:
            result = campaigns.results(sent, now=NOW + timedelta(days=40))
        assert result.sent.members + result.holdout.members == size
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 2


def synthetic(n: int, rate: float, spend_each: int) -> GroupResult:
    """n members, a share `rate` of whom each spent `spend_each`, the others nothing."""
    buyers = round(n * rate)
    return GroupResult(members=n, purchasers=buyers, spend=Decimal(buyers * spend_each),
                       spend_squares=Decimal(buyers * spend_each ** 2))


def test_a_known_effect_is_found_with_an_interval_around_it():
    sent, holdout = synthetic(20000, 0.30, 50), synthetic(20000, 0.20, 50)
    rate = campaigns.rate_difference(sent, holdout)
    assert rate.value == pytest.approx(0.10)
    assert rate.low > 0 and rate.low < 0.10 < rate.high
    # The textbook Wald interval: 0.10 ± 1.96 √(0.21/20000 + 0.16/20000).
    assert rate.high - rate.value == pytest.approx(1.959964 * (0.37 / 20000) ** 0.5, rel=1e-4)
    spend = campaigns.spend_difference(sent, holdout)
    assert spend.value == pytest.approx(5.0)
    assert spend.distinguishable and spend.low < 5.0 < spend.high


def test_no_effect_gives_an_interval_that_holds_zero():
    sent, holdout = synthetic(9000, 0.20, 40), synthetic(1000, 0.20, 40)
    assert not campaigns.rate_difference(sent, holdout).distinguishable
    spend = campaigns.spend_difference(sent, holdout)
    assert spend.low < 0 < spend.high and not spend.distinguishable
    # A small sample with a large apparent effect is not distinguishable either.
    assert not campaigns.rate_difference(synthetic(20, 0.3, 50),
                                         synthetic(10, 0.2, 50)).distinguishable


def test_an_empty_holdout_gives_no_comparison():
    assert campaigns.rate_difference(synthetic(100, 0.3, 10), synthetic(0, 0, 10)) is None
    assert campaigns.spend_difference(synthetic(100, 0.3, 10), synthetic(1, 0, 10)) is None


def test_insight_rows_are_not_required_for_a_campaign_without_filters():
    ids = many_members(5)
    sent = campaign(holdout_percent=0)
    assert campaigns.send_campaign(campaign_id=sent.pk, now=timezone.now()) == 5
    assert not MemberInsight.objects.exists() and len(ids) == 5
