from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty.models import ActionEvent, PointsEntry, Review
from loyalty.services import privacy, purchases, reviews
from loyalty.services.errors import (
    Invalid,
    MemberClosed,
    NotFound,
    PurchaseRefunded,
    ReviewExists,
)
from loyalty.services.members import merge_members
from tests.factories import ActionRuleFactory, StoreFactory, UserFactory, make_member, programme

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def buy(store, member, order_id="A-1", amount="40.00"):
    return purchases.record_purchase(store=store, order_id=order_id, amount=Decimal(amount),
                                     member=member).obj


@pytest.fixture
def rule(db):
    return ActionRuleFactory(event_type="review_posted", name="Review posted", points=10)


def test_a_review_is_posted_once_and_credits_the_action_once(store, member, scale, rule,
                                                              ledger_is_sound):
    purchase = buy(store, member)
    first = reviews.post_review(member=member, purchase_id=purchase.pk, rating=4,
                                comment="  Nice staff\r\n")
    again = reviews.post_review(member=member, purchase_id=purchase.pk, rating=4,
                                comment="Nice staff")
    assert first.created and not again.created
    assert again.obj.pk == first.obj.pk
    review = first.obj
    assert (review.rating, review.comment, review.store, review.member) == (
        4, "Nice staff", store, member)
    assert review.action_event.event_id == f"review:{purchase.pk}"
    assert review.action_event.points_earned == 10
    assert ActionEvent.objects.filter(rule=rule).count() == 1
    member.refresh_from_db()
    assert member.balance == 40 + 10
    ledger_is_sound()


def test_a_different_second_review_of_the_same_purchase_is_refused(store, member, scale, rule):
    purchase = buy(store, member)
    reviews.post_review(member=member, purchase_id=purchase.pk, rating=4)
    for rating, comment in ((5, ""), (4, "changed my mind")):
        with pytest.raises(ReviewExists) as error:
            reviews.post_review(member=member, purchase_id=purchase.pk, rating=rating,
                                comment=comment)
        assert error.value.code == "review_exists"
        assert error.value.status == 409
    assert Review.objects.get().rating == 4
    assert ActionEvent.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 50


def test_each_purchase_earns_its_own_review_points_within_the_rules_limit(store, member, scale):
    ActionRuleFactory(event_type="review_posted", points=10, limit_count=2,
                      limit_period="month")
    posted = [reviews.post_review(member=member, rating=5,
                                  purchase_id=buy(store, member, f"A-{i}", "1.00").pk).obj
              for i in range(3)]
    assert [r.action_event.points_earned for r in posted] == [10, 10, 0]
    assert posted[2].action_event.limited


def test_without_an_active_rule_the_review_is_kept_and_earns_nothing(store, member, scale):
    ActionRuleFactory(event_type="review_posted", active=False)
    purchase = buy(store, member)
    review = reviews.post_review(member=member, purchase_id=purchase.pk, rating=3).obj
    assert review.action_event is None
    assert not ActionEvent.objects.exists()
    assert not PointsEntry.objects.filter(reference__startswith="event:").exists()


def test_another_members_purchase_is_not_found(store, member, scale, rule):
    purchase = buy(store, make_member())
    for purchase_id in (purchase.pk, 999999, "abc", None, -1, 2**70, True):
        with pytest.raises(NotFound):
            reviews.post_review(member=member, purchase_id=purchase_id, rating=5)
    assert not Review.objects.exists()


@pytest.mark.parametrize("rating", [0, 6, -1, "5", 4.5, None, True])
def test_a_rating_must_be_a_whole_number_from_1_to_5(store, member, scale, rating):
    purchase = buy(store, member)
    with pytest.raises(Invalid) as error:
        reviews.post_review(member=member, purchase_id=purchase.pk, rating=rating)
    assert error.value.code == "invalid"
    assert "rating" in error.value.fields
    assert not Review.objects.exists()


@pytest.mark.parametrize("comment", ["x" * 2001, "nul\x00byte", 42])
def test_a_bad_comment_is_refused(store, member, scale, comment):
    purchase = buy(store, member)
    with pytest.raises(Invalid) as error:
        reviews.post_review(member=member, purchase_id=purchase.pk, rating=3, comment=comment)
    assert "comment" in error.value.fields
    assert not Review.objects.exists()


def test_a_comment_of_2000_characters_is_kept(store, member, scale):
    purchase = buy(store, member)
    review = reviews.post_review(member=member, purchase_id=purchase.pk, rating=3,
                                 comment="é" * 2000).obj
    assert len(review.comment) == 2000


def test_a_purchase_refunded_in_full_cannot_be_reviewed(store, member, scale, rule):
    purchase = buy(store, member)
    purchases.record_refund(purchase=purchase, refund_id="R-1", amount=Decimal("10.00"))
    partly = reviews.post_review(member=member, purchase_id=purchase.pk, rating=2)
    assert partly.created  # a partial refund still leaves something to rate
    other = buy(store, member, "A-2")
    purchases.record_refund(purchase=other, refund_id="R-2", amount=Decimal("40.00"))
    with pytest.raises(PurchaseRefunded) as error:
        reviews.post_review(member=member, purchase_id=other.pk, rating=1)
    assert error.value.code == "purchase_refunded"
    assert error.value.status == 400
    assert Review.objects.count() == 1


def test_a_merged_duplicate_reviews_through_the_survivor(store, scale, rule):
    survivor, duplicate = make_member(), make_member()
    purchase = buy(store, duplicate)
    early = buy(store, duplicate, "A-0")
    reviews.post_review(member=duplicate, purchase_id=early.pk, rating=5)
    merge_members(survivor_id=survivor.pk, duplicate_id=duplicate.pk)
    review = reviews.post_review(member=duplicate, purchase_id=purchase.pk, rating=5).obj
    assert review.member == survivor
    assert set(Review.objects.values_list("member_id", flat=True)) == {survivor.pk}


def test_a_deleted_member_cannot_review(store, member, scale):
    purchase = buy(store, member)
    privacy.erase_member(member=member)
    with pytest.raises(MemberClosed):
        reviews.post_review(member=member, purchase_id=purchase.pk, rating=5)


def test_a_low_rating_needs_a_follow_up_at_the_programmes_threshold(store, member, scale):
    ratings = [1, 2, 3, 4, 5]
    posted = {rating: reviews.post_review(member=member, rating=rating,
                                          purchase_id=buy(store, member, f"A-{rating}").pk).obj
              for rating in ratings}
    assert [posted[r].needs_follow_up for r in ratings] == [True, True, False, False, False]
    programme(review_follow_up_rating=3)
    later = reviews.post_review(member=member, rating=3,
                                purchase_id=buy(store, member, "A-6").pk).obj
    assert later.needs_follow_up


def test_a_follow_up_is_recorded_once_and_only_for_the_store_named(store, member, scale):
    lyon = StoreFactory(code="lyon", name="Lyon")
    manager = UserFactory(email="boss@example.com")
    review = reviews.post_review(member=member, purchase_id=buy(store, member).pk,
                                 rating=1, comment="Cold coffee").obj
    with pytest.raises(NotFound):
        reviews.follow_up_review(review_id=review.pk, by=manager, note="x", store=lyon)
    now = datetime(2026, 3, 2, 10, tzinfo=PARIS)
    done = reviews.follow_up_review(review_id=review.pk, by=manager, note=" Called back ",
                                    store=store, now=now)
    again = reviews.follow_up_review(review_id=review.pk, by=manager, note="other",
                                     store=store)
    assert done.created and not again.created
    review.refresh_from_db()
    assert (review.followed_up_at, review.followed_up_by, review.follow_up_note) == (
        now, manager, "Called back")
    assert reviews.count_to_follow_up(stores=[store]) == 0
    with pytest.raises(Invalid):
        reviews.follow_up_review(review_id=review.pk, by=manager, note="x" * 2001)
    with pytest.raises(NotFound):
        reviews.follow_up_review(review_id="nope", by=manager)


# --- the staff page's figures ----------------------------------------------------------------

NOW = datetime(2026, 6, 15, 12, tzinfo=PARIS)


def review_at(store, member, rating, at, order_id):
    review = reviews.post_review(member=member, rating=rating,
                                 purchase_id=buy(store, member, order_id, "5.00").pk).obj
    Review.objects.filter(pk=review.pk).update(created_at=at)
    return review


@pytest.fixture
def known_reviews(store, member, scale):
    for rating, at in [
        (5, datetime(2026, 6, 10, 9, tzinfo=PARIS)),
        (3, datetime(2026, 6, 1, 0, 30, tzinfo=PARIS)),  # May 31 in UTC: June in Paris
        (4, datetime(2026, 5, 20, 9, tzinfo=PARIS)),
        (2, datetime(2026, 5, 10, 9, tzinfo=PARIS)),
        (1, datetime(2026, 3, 1, 9, tzinfo=PARIS)),
        (5, datetime(2025, 11, 3, 9, tzinfo=PARIS)),  # before the six months shown
    ]:
        review_at(store, member, rating, at, f"K-{at:%Y%m%d%H%M}")
    # Another store's reviews count for it alone.
    review_at(StoreFactory(code="lyon", name="Lyon"), member, 1, NOW, "L-1")


def test_a_stores_count_average_and_trend(store, known_reviews):
    figures = reviews.store_figures(store=store, now=NOW)
    assert (figures.count, figures.average) == (6, Decimal("3.33"))
    assert (figures.recent_count, figures.recent_average) == (3, Decimal("4.00"))
    assert (figures.previous_count, figures.previous_average) == (1, Decimal("2.00"))
    assert figures.change == Decimal("2.00")
    assert figures.to_follow_up == 2  # the 2 and the 1
    assert [(m.month.isoformat(), m.count, m.average) for m in figures.months] == [
        ("2026-01-01", 0, None), ("2026-02-01", 0, None), ("2026-03-01", 1, Decimal("1.00")),
        ("2026-04-01", 0, None), ("2026-05-01", 2, Decimal("3.00")),
        ("2026-06-01", 2, Decimal("4.00"))]


def test_a_store_without_reviews_has_no_average(store):
    figures = reviews.store_figures(store=store, now=NOW)
    assert (figures.count, figures.average, figures.change) == (0, None, None)
    assert [m.count for m in figures.months] == [0] * 6


def test_summaries_group_by_store(store, known_reviews):
    lyon = StoreFactory(code="lyon")
    empty = StoreFactory(code="nice")
    summaries = reviews.store_summaries(stores=[store, lyon, empty])
    assert summaries[store.pk] == {"count": 6, "average": Decimal("3.33"), "to_follow_up": 2}
    assert summaries[lyon.pk] == {"count": 1, "average": Decimal("1.00"), "to_follow_up": 1}
    assert empty.pk not in summaries


def test_the_figures_take_a_fixed_number_of_queries(store, member, scale,
                                                    django_assert_max_num_queries):
    for i in range(3):
        review_at(store, member, 1 + i % 5, NOW - timedelta(days=i), f"Q-{i}")
    with django_assert_max_num_queries(2):
        reviews.store_figures(store=store, now=NOW)
    for i in range(3, 30):
        review_at(store, member, 1 + i % 5, NOW - timedelta(days=i * 5), f"Q-{i}")
    with django_assert_max_num_queries(2):
        reviews.store_figures(store=store, now=NOW)


# --- data rights -----------------------------------------------------------------------------


def test_the_export_holds_the_members_reviews(store, member, scale):
    purchase = buy(store, member)
    review = reviews.post_review(member=member, purchase_id=purchase.pk, rating=2,
                                 comment="Too long a queue").obj
    data = privacy.export_member_data(member=member)
    assert data["reviews"] == [{"store": "paris", "order_id": "A-1", "rating": 2,
                                "comment": "Too long a queue",
                                "created_at": review.created_at.isoformat()}]


def test_erasure_blanks_the_comments_and_keeps_the_ratings(store, member, scale):
    review = reviews.post_review(member=member, purchase_id=buy(store, member).pk, rating=1,
                                 comment="Marie here, call me on 0612345678").obj
    reviews.follow_up_review(review_id=review.pk, by=None, note="Called Marie Curie")
    other = make_member()
    kept = reviews.post_review(member=other, purchase_id=buy(store, other, "B-1").pk,
                               rating=5, comment="Great").obj
    privacy.erase_member(member=member)
    review.refresh_from_db()
    assert (review.rating, review.comment, review.follow_up_note) == (1, "", "")
    assert review.member.status == "deleted" and review.member.email == ""
    kept.refresh_from_db()
    assert kept.comment == "Great"
    assert reviews.store_figures(store=store).count == 2
