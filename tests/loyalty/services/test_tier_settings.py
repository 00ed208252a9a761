"""Tiers as staff set them: thresholds rise with rank; a tier with members is deleted only
after its members (and the rewards requiring it) moved to another tier."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from loyalty.models import Member, Tier, TierChange
from loyalty.services import tiers as tier_services
from loyalty.services.errors import Invalid, NotFound
from loyalty.services.tier_settings import delete_tier, save_tier
from tests.factories import TierFactory, UserFactory, make_member
from tests.rewards.helpers import reward

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder():
    return [TierFactory(code="bronze", name="Bronze", rank=0, threshold=0),
            TierFactory(code="silver", name="Silver", rank=1, threshold=500),
            TierFactory(code="gold", name="Gold", rank=3, threshold=1000)]


def test_a_higher_rank_below_a_lower_ranks_threshold_is_refused(ladder):
    with pytest.raises(Invalid) as raised:
        save_tier(tier=Tier(code="platinum", name="Platinum", rank=4,
                            threshold=Decimal("100")))
    message = raised.value.fields["threshold"]
    assert "rise with rank" in message and "Gold" in message and "1,000" in message
    assert not Tier.objects.filter(code="platinum").exists()


def test_a_lower_rank_above_a_higher_ranks_threshold_is_refused(ladder):
    with pytest.raises(Invalid) as raised:
        save_tier(tier=Tier(code="pearl", name="Pearl", rank=2, threshold=Decimal("1500")))
    assert "below Gold" in raised.value.fields["threshold"]


def test_an_equal_threshold_is_refused_it_would_make_a_tier_unreachable(ladder):
    with pytest.raises(Invalid):
        save_tier(tier=Tier(code="pearl", name="Pearl", rank=2, threshold=Decimal("500")))


def test_changing_a_threshold_is_checked_against_the_other_tiers(ladder):
    silver = ladder[1]
    silver.threshold = Decimal("1200")
    with pytest.raises(Invalid):
        save_tier(tier=silver)
    assert Tier.objects.get(code="silver").threshold == 500
    silver.threshold = Decimal("800")
    save_tier(tier=silver)
    assert Tier.objects.get(code="silver").threshold == 800


def test_a_tier_in_its_place_is_saved(ladder):
    save_tier(tier=Tier(code="platinum", name="Platinum", rank=4, threshold=Decimal("5000")))
    save_tier(tier=Tier(code="pearl", name="Pearl", rank=2, threshold=Decimal("700")))
    assert list(Tier.objects.values_list("code", flat=True)) == [
        "bronze", "silver", "pearl", "gold", "platinum"]


def test_the_model_clean_holds_the_same_rule(ladder):
    with pytest.raises(ValidationError) as raised:
        Tier(code="platinum", name="Platinum", rank=4, threshold=Decimal("100")).full_clean()
    assert "threshold" in raised.value.message_dict


def test_deleting_a_tier_moves_its_members_with_history_then_deletes_it(ladder):
    bronze, silver, gold = ladder
    staff = UserFactory(is_staff=True)
    first, second = make_member(), make_member()
    other = make_member()
    for member in (first, second):
        tier_services.set_tier(member_id=member.pk, tier=silver)
    tier_services.set_tier(member_id=other.pk, tier=gold)
    required = reward(tier_required=silver)

    moved = delete_tier(tier_id=silver.pk, move_to_id=bronze.pk, by=staff)

    assert moved == 2
    assert not Tier.objects.filter(pk=silver.pk).exists()
    assert set(Member.objects.filter(tier=bronze).values_list("pk", flat=True)) == {
        first.pk, second.pk}
    assert Member.objects.get(pk=other.pk).tier == gold
    required.refresh_from_db()
    assert required.tier_required == bronze
    moves = TierChange.objects.filter(to_tier=bronze, by=staff)
    assert moves.count() == 2
    assert {change.reason for change in moves} == {TierChange.Reason.MANUAL}
    # The history of the deleted tier stays (its rows now name no tier there).
    assert TierChange.objects.filter(member=first).count() == 2


def test_deleting_into_itself_or_a_missing_tier_is_refused(ladder):
    bronze, silver, _gold = ladder
    member = make_member()
    tier_services.set_tier(member_id=member.pk, tier=silver)
    with pytest.raises(Invalid):
        delete_tier(tier_id=silver.pk, move_to_id=silver.pk)
    with pytest.raises(NotFound):
        delete_tier(tier_id=silver.pk, move_to_id=999_999)
    assert Tier.objects.filter(pk=silver.pk).exists()
    assert Member.objects.get(pk=member.pk).tier == silver
