from datetime import date, timedelta

import pytest
from django.utils import timezone

from loyalty.models import Card, ConsentChange, ExternalId, Member, MemberMerge, PointsEntry
from loyalty.services import ledger
from loyalty.services.cards import is_valid_card_number
from loyalty.services.errors import Invalid, MemberExists, MergeNotAllowed
from loyalty.services.members import (
    create_member,
    existing_member_for,
    merge_members,
    set_consent,
)
from loyalty.services.purchases import record_purchase, record_refund
from tests.factories import TierFactory, UserFactory, make_member, programme

pytestmark = pytest.mark.django_db


def test_a_member_gets_a_card_with_a_check_digit_and_normalised_identities(store):
    base = TierFactory(code="base", rank=0, threshold=0)
    member = create_member(email="  Jean.Dupont@Example.COM ", phone="06 12 34 56 78",
                           external_id="C-1", store=store, first_name=" Jean ")
    assert member.email == "jean.dupont@example.com"
    assert member.phone == "+33612345678"
    assert member.first_name == "Jean"
    assert member.tier == base
    assert is_valid_card_number(member.card_number)
    assert Card.objects.get(member=member).number == member.card_number
    assert ExternalId.objects.get(store=store).value == "C-1"


@pytest.mark.parametrize("kwargs", [{}, {"email": "not-an-email"}, {"phone": "123"},
                                    {"email": "a@b.fr", "first_name": "x" * 101},
                                    {"email": "a@b.fr", "birth_date": date(1800, 1, 1)},
                                    {"external_id": "X"}])
def test_bad_identities_are_refused(kwargs):
    with pytest.raises(Invalid):
        create_member(**kwargs)
    assert not Member.objects.exists()


def test_one_person_one_member(store):
    first = create_member(email="a@example.com", phone="+33612345678", external_id="E1",
                          store=store)
    for kwargs in ({"email": "A@example.com"}, {"phone": "0612345678"},
                   {"external_id": "E1", "store": store}):
        with pytest.raises(MemberExists) as error:
            create_member(**kwargs)
        assert error.value.fields == {"member_id": first.pk}


def test_consents_are_recorded_with_their_time_and_history(member):
    set_consent(member_id=member.pk, channel="email", granted=True, source="portal")
    set_consent(member_id=member.pk, channel="email", granted=True, source="portal")
    set_consent(member_id=member.pk, channel="email", granted=False, source="unsubscribe")
    member.refresh_from_db()
    assert member.email_marketing is False and member.email_marketing_at is not None
    assert list(ConsentChange.objects.values_list("granted", flat=True)) == [False, True]
    with pytest.raises(Invalid):
        set_consent(member_id=member.pk, channel="fax", granted=True)


def test_merge_moves_everything_and_keeps_history(store, scale, ledger_is_sound):
    programme(return_window_days=14)
    survivor = create_member(email="marie@example.com", first_name="Marie")
    duplicate = create_member(phone="+33612345678", external_id="EXT", store=store,
                              last_name="Dupont")
    record_purchase(store=store, order_id="S1", amount="30.00", member=survivor)
    old = timezone.now() - timedelta(days=20)
    record_purchase(store=store, order_id="D1", amount="50.00", member=duplicate,
                    occurred_at=old, now=old)
    record_purchase(store=store, order_id="D2", amount="20.00", member=duplicate)
    ledger.bring_member_up_to_date(member_id=duplicate.pk)
    set_consent(member_id=duplicate.pk, channel="sms", granted=True)

    merged = merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk, reason="same")
    duplicate.refresh_from_db()
    assert (merged.balance, merged.pending, merged.lifetime_earned) == (50, 50, 100)
    assert (merged.phone, merged.last_name, merged.sms_marketing) == (
        "+33612345678", "Dupont", True)
    assert duplicate.status == "merged" and duplicate.merged_into == merged
    assert (duplicate.balance, duplicate.pending) == (0, 0)
    assert merged.purchases.count() == 3
    assert Card.objects.filter(member=merged).count() == 2
    assert existing_member_for(external_id="EXT", store=store) == merged
    assert existing_member_for(phone="+33612345678") == merged
    assert PointsEntry.objects.filter(member=duplicate, kind="earn").count() == 2
    assert PointsEntry.objects.filter(kind="merge").count() == 2
    assert MemberMerge.objects.get().moved["purchases"] == 2
    # A refund of the duplicate's purchase now lands on the survivor.
    purchase = merged.purchases.get(order_id="D1")
    record_refund(purchase=purchase, refund_id="R1", amount="50.00")
    merged.refresh_from_db()
    assert merged.balance == 0
    ledger_is_sound()


def test_purchases_sent_for_a_merged_member_land_on_the_survivor(store, scale):
    survivor, duplicate = make_member(), make_member()
    merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk)
    purchase = record_purchase(store=store, order_id="X", amount="10.00", member=duplicate).obj
    assert purchase.member_id == survivor.pk


def test_a_duplicate_in_debt_brings_its_debt(store, scale, ledger_is_sound):
    survivor, duplicate = make_member(), make_member()
    record_purchase(store=store, order_id="S", amount="40.00", member=survivor)
    purchase = record_purchase(store=store, order_id="D", amount="30.00", member=duplicate).obj
    ledger.adjust_points(member_id=duplicate.pk, points=-30, reason="spent")
    record_refund(purchase=purchase, refund_id="R", amount="30.00")
    merged = merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk)
    assert merged.balance == 10
    ledger_is_sound()


def test_merge_refuses_self_closed_members_and_two_accounts(db):
    a, b, c = make_member(), make_member(), make_member()
    with pytest.raises(MergeNotAllowed):
        merge_members(survivor_id=a.pk, duplicate_id=a.pk)
    merge_members(survivor_id=a.pk, duplicate_id=b.pk)
    with pytest.raises(MergeNotAllowed):
        merge_members(survivor_id=c.pk, duplicate_id=b.pk)
    d, e = make_member(user=UserFactory()), make_member(user=UserFactory())
    with pytest.raises(MergeNotAllowed):
        merge_members(survivor_id=d.pk, duplicate_id=e.pk)


def test_the_survivor_keeps_the_better_tier(db):
    TierFactory(code="base", rank=0, threshold=0)
    gold = TierFactory(code="gold", rank=2, threshold=1000)
    survivor, duplicate = make_member(), make_member()
    Member.objects.filter(pk=duplicate.pk).update(tier=gold)
    merged = merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk)
    assert merged.tier == gold
    assert merged.tier_changes.get().reason == "merge"


def test_merging_the_same_pair_again_changes_nothing(db, ledger_is_sound):
    survivor, duplicate = make_member(), make_member()
    ledger.adjust_points(member_id=duplicate.pk, points=30, reason="gift")
    merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk)
    again = merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk)
    assert again.balance == 30
    assert MemberMerge.objects.count() == 1
    ledger_is_sound()


def test_merge_moves_vouchers_bonus_messages_consents_and_bounces(store, scale):
    from loyalty.models import EmailBounce, Message, PurchaseBonus
    from rewards.models import Redemption, Voucher
    from rewards.services import grant_voucher
    from tests.rewards.helpers import reward

    now = timezone.now()
    survivor = create_member(email="marie@example.com", first_name="Marie")
    duplicate = create_member(email="m.curie@example.com", store=store)
    given = grant_voucher(member=duplicate, reward=reward(), expires_at=now + timedelta(days=30),
                          source=Voucher.Source.JOURNEY, occasion_key="win_back:x").obj
    PurchaseBonus.objects.create(member=duplicate, occasion_key="second_purchase:x",
                                 points=50, starts_at=now, expires_at=now + timedelta(days=7))
    Message.objects.create(member=duplicate, kind="welcome", occasion=f"welcome:{duplicate.pk}",
                           channel="email", purpose="service", created_at=now)
    set_consent(member_id=duplicate.pk, channel="email", granted=True)
    EmailBounce.objects.create(address="m.curie@example.com", member=duplicate,
                               event="bounced", event_id="pm-1", at=now)

    merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk, reason="same")
    given.refresh_from_db()
    assert given.member_id == survivor.pk
    assert PurchaseBonus.objects.get().member_id == survivor.pk
    assert Message.objects.get().member_id == survivor.pk
    assert ConsentChange.objects.filter(member=duplicate).count() == 0
    assert ConsentChange.objects.filter(member=survivor, granted=True).exists()
    assert EmailBounce.objects.get().member_id == survivor.pk
    assert not Redemption.objects.filter(member=duplicate).exists()
    moved = MemberMerge.objects.get().moved
    assert (moved["vouchers"], moved["bonuses"], moved["messages"]) == (1, 1, 1)
