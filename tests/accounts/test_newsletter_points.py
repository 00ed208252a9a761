"""Promised points are given: `newsletter_signup` on a member's first opt-in to email, once
per member ever, whatever door the consent came through."""

import pytest

from accounts.services import set_marketing_consent, update_profile
from loyalty.models import ActionEvent, ConsentChange, PointsEntry
from loyalty.services import actions
from loyalty.services import members as member_services
from tests.factories import ActionRuleFactory, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter(db):
    return ActionRuleFactory(event_type="newsletter_signup", name="Newsletter", points=50)


def points(member) -> int:
    member.refresh_from_db()
    return member.balance


def newsletter_events(member):
    return ActionEvent.objects.filter(member=member, rule__event_type="newsletter_signup")


def test_the_first_email_opt_in_gives_the_newsletter_points(member, newsletter):
    set_marketing_consent(member_id=member.pk, channel="email", granted=True,
                          source="portal")
    assert points(member) == 50
    assert newsletter_events(member).count() == 1
    entry = PointsEntry.objects.get(member=member)
    assert entry.points == 50


def test_opting_in_through_the_profile_gives_them(member, newsletter):
    update_profile(member=member, first_name="Marie", last_name="Curie", phone="",
                   birth_date=None, language="en", email_marketing=True, sms_marketing=False)
    assert points(member) == 50


def test_opting_out_and_in_again_gives_nothing_more(member, newsletter):
    for granted in (True, False, True, False, True):
        set_marketing_consent(member_id=member.pk, channel="email", granted=granted)
    assert points(member) == 50
    assert newsletter_events(member).count() == 1
    assert ConsentChange.objects.filter(member=member, channel="email").count() == 5


def test_a_repeated_opt_in_is_idempotent(member, newsletter):
    set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    assert points(member) == 50


def test_a_member_who_had_opted_in_before_gets_nothing(member, newsletter):
    member_services.set_consent(member_id=member.pk, channel="email", granted=True)
    member_services.set_consent(member_id=member.pk, channel="email", granted=False)
    set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    assert points(member) == 0


def test_a_member_who_earned_it_from_the_e_shop_gets_nothing_more(member, newsletter):
    actions.record_action(member=member, event_type="newsletter_signup", event_id="SHOP-1")
    set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    assert points(member) == 50


def test_sms_or_a_withdrawal_gives_nothing(member, newsletter):
    set_marketing_consent(member_id=member.pk, channel="sms", granted=True)
    set_marketing_consent(member_id=member.pk, channel="email", granted=False)
    assert points(member) == 0


def test_without_an_active_rule_nothing_and_no_error(member):
    set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    assert points(member) == 0
    assert ConsentChange.objects.filter(member=member, granted=True).count() == 1


def test_each_member_gets_it_once(newsletter):
    first, second = make_member(), make_member()
    for member in (first, second):
        set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    assert points(first) == 50 and points(second) == 50


def test_the_ledger_stays_sound(member, newsletter, ledger_is_sound):
    set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    ledger_is_sound()
