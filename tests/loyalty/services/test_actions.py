from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.models import ActionEvent
from loyalty.services.actions import record_action
from loyalty.services.errors import EventConflict, UnknownEventType
from tests.factories import ActionRuleFactory, make_member, programme

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def test_an_action_earns_its_points_once_per_event_id(store, member, ledger_is_sound):
    ActionRuleFactory(event_type="review_posted", points=20)
    first = record_action(member=member, event_type="review_posted", event_id="rev-1",
                          store=store)
    again = record_action(member=member, event_type="review_posted", event_id="rev-1",
                          store=store)
    assert first.created and not again.created
    assert (first.obj.points_earned, first.obj.limited, first.obj.balance_after) == (20, False, 20)
    member.refresh_from_db()
    assert member.balance == 20
    ledger_is_sound()


def test_unknown_or_inactive_event_types_are_refused(member):
    ActionRuleFactory(event_type="old_promo", active=False)
    for event_type in ("nope", "old_promo", "", None):
        with pytest.raises(UnknownEventType) as error:
            record_action(member=member, event_type=event_type, event_id="e1")
        assert error.value.code == "unknown_event_type"
    assert not ActionEvent.objects.exists()


def test_the_same_event_id_for_another_member_or_type_is_a_conflict(store, member):
    ActionRuleFactory(event_type="review_posted")
    ActionRuleFactory(event_type="newsletter_signup")
    record_action(member=member, event_type="review_posted", event_id="e1", store=store)
    with pytest.raises(EventConflict):
        record_action(member=make_member(), event_type="review_posted", event_id="e1",
                      store=store)
    with pytest.raises(EventConflict):
        record_action(member=member, event_type="newsletter_signup", event_id="e1",
                      store=store)


def test_a_limit_per_period_records_the_event_with_no_points(member, ledger_is_sound):
    ActionRuleFactory(event_type="review_posted", points=20, limit_count=2,
                      limit_period="month")
    start = datetime(2026, 11, 3, 10, tzinfo=PARIS)
    results = [record_action(member=member, event_type="review_posted", event_id=f"r{i}",
                             occurred_at=start + timedelta(days=i), now=start + timedelta(days=i))
               .obj for i in range(3)]
    assert [(r.points_earned, r.limited) for r in results] == [(20, False), (20, False),
                                                               (0, True)]
    december = datetime(2026, 12, 1, 10, tzinfo=PARIS)
    fresh = record_action(member=member, event_type="review_posted", event_id="r-dec",
                          occurred_at=december, now=december).obj
    assert (fresh.points_earned, fresh.limited) == (20, False)
    ledger_is_sound()


def test_a_once_ever_action_cannot_be_earned_twice(member):
    ActionRuleFactory(event_type="account_created", points=50, limit_count=1,
                      limit_period="ever")
    record_action(member=member, event_type="account_created", event_id="a1")
    second = record_action(member=member, event_type="account_created", event_id="a2").obj
    assert second.limited and second.points_earned == 0


def test_action_points_count_towards_tiers_only_if_the_programme_says_so(store, member):
    from tests.factories import TierFactory

    TierFactory(code="base", rank=0, threshold=0)
    silver = TierFactory(code="silver", rank=1, threshold=100)
    ActionRuleFactory(event_type="referral", points=150)
    record_action(member=member, event_type="referral", event_id="f1")
    member.refresh_from_db()
    assert member.tier != silver
    programme(actions_qualify_for_tiers=True)
    record_action(member=member, event_type="referral", event_id="f2")
    member.refresh_from_db()
    assert member.tier == silver


def test_programme_events_and_store_events_have_separate_ids(store, member):
    ActionRuleFactory(event_type="birthday", points=10)
    record_action(member=member, event_type="birthday", event_id="b-2026")
    assert record_action(member=member, event_type="birthday", event_id="b-2026",
                         store=store).created
