"""Rating a purchase from the history: the member's own purchases only, once each."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import Review
from loyalty.services import purchases, reviews
from tests.factories import ActionRuleFactory

pytestmark = pytest.mark.django_db


def buy(store, member, order_id="A-1", amount="40.00"):
    return purchases.record_purchase(store=store, order_id=order_id, amount=Decimal(amount),
                                     member=member).obj


def review_url(purchase) -> str:
    return reverse("review-purchase", args=[purchase.pk])


@pytest.fixture
def purchase(store, marie, scale):
    ActionRuleFactory(event_type="review_posted", name="Review posted", points=10)
    return buy(store, marie)


def test_the_history_links_each_unrated_purchase_to_its_rating_page(marie_client, purchase):
    content = marie_client.get(reverse("history")).content.decode()
    assert f'href="{review_url(purchase)}"' in content
    assert "Rate this purchase" in content


def test_the_rating_page_is_an_accessible_radio_group(marie_client, purchase):
    response = marie_client.get(review_url(purchase))
    assert response.status_code == 200
    content = response.content.decode()
    fieldset = re.search(r"<fieldset.*?</fieldset>", content, re.S).group(0)
    assert "<legend>Your rating</legend>" in fieldset
    radios = re.findall(r'<input type="radio" name="rating" value="(\d)"[^>]*id="([^"]+)"',
                        fieldset)
    assert [value for value, _id in radios] == ["1", "2", "3", "4", "5"]
    for _value, input_id in radios:
        assert f'<label for="{input_id}">' in fieldset
    assert re.search(r'<label for="id_comment">', content)
    assert "<script" not in content.split("<main", 1)[1] and "style=" not in content


def test_posting_a_rating_shows_it_in_the_history_and_credits_the_points(marie_client, marie,
                                                                         purchase):
    response = marie_client.post(review_url(purchase), {"rating": "4", "comment": "Lovely"})
    assert response.status_code == 302 and response["Location"] == reverse("history")
    review = Review.objects.get()
    assert (review.rating, review.comment, review.member) == (4, "Lovely", marie)
    history = marie_client.get(reverse("history"))
    content = history.content.decode()
    assert "Thank you for your review: 10 points are on your card." in content
    assert f'href="{review_url(purchase)}"' not in content
    assert "4 out of 5" in content
    # The same form sent again (a double tap) posts nothing more.
    again = marie_client.post(review_url(purchase), {"rating": "4", "comment": "Lovely"})
    assert again.status_code == 200
    assert Review.objects.count() == 1
    assert "A purchase is rated once" in again.content.decode()
    marie.refresh_from_db()
    assert marie.balance == 40 + 10


def test_another_members_purchase_is_a_404(client, other, store, purchase):
    client.force_login(other.user)
    assert client.get(review_url(purchase)).status_code == 404
    assert client.post(review_url(purchase), {"rating": "5"}).status_code == 404
    assert client.get(reverse("review-purchase", args=[999999])).status_code == 404
    assert not Review.objects.exists()


def test_an_anonymous_visitor_is_sent_to_log_in(client, purchase):
    response = client.get(review_url(purchase))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


@pytest.mark.parametrize("data", [{}, {"rating": "0"}, {"rating": "6"}, {"rating": "x"},
                                  {"rating": "3", "comment": "x" * 2001},
                                  {"rating": "3", "comment": "bad\x00byte"}])
def test_a_bad_form_is_shown_again_with_its_error(marie_client, purchase, data):
    response = marie_client.post(review_url(purchase), data)
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert not Review.objects.exists()


def test_a_purchase_refunded_in_full_cannot_be_rated(marie_client, purchase):
    purchases.record_refund(purchase=purchase, refund_id="R-1", amount=Decimal("40.00"))
    history = marie_client.get(reverse("history")).content.decode()
    assert f'href="{review_url(purchase)}"' not in history
    page = marie_client.get(review_url(purchase)).content.decode()
    assert "refunded in full" in page
    response = marie_client.post(review_url(purchase), {"rating": "5"})
    assert response.status_code == 200
    assert "refunded in full" in response.content.decode()
    assert not Review.objects.exists()


def test_the_history_query_count_does_not_grow_with_reviews(
        marie_client, marie, store, purchase, django_assert_max_num_queries):
    reviews.post_review(member=marie, purchase_id=purchase.pk, rating=5)
    marie_client.get(reverse("history"))
    with django_assert_max_num_queries(20) as few:
        marie_client.get(reverse("history"))
    for i in range(10):
        reviews.post_review(member=marie, purchase_id=buy(store, marie, f"B-{i}").pk,
                            rating=1 + i % 5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        marie_client.get(reverse("history"))


def test_the_pages_render_in_french(marie_client, purchase):
    history = marie_client.get(reverse("history"), HTTP_ACCEPT_LANGUAGE="fr")
    assert history["Content-Language"] == "fr"
    assert "Mon historique de points" in history.content.decode()
    page = marie_client.get(review_url(purchase), HTTP_ACCEPT_LANGUAGE="fr")
    assert page.status_code == 200 and page["Content-Language"] == "fr"
    assert '<html lang="fr">' in page.content.decode()
    marie_client.post(review_url(purchase), {"rating": "2"}, HTTP_ACCEPT_LANGUAGE="fr")
    shown = marie_client.get(review_url(purchase), HTTP_ACCEPT_LANGUAGE="fr")
    assert shown.status_code == 200 and "<fieldset" not in shown.content.decode()
