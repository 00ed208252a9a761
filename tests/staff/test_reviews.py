"""The reviews page: managers of the store and programme admins, never cashiers; its query
count does not grow with the number of reviews."""

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import StaffRole
from loyalty.models import Review
from loyalty.services import purchases, reviews
from tests.factories import StaffRoleFactory, UserFactory, make_member
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db
PAGE = reverse("staff:reviews")


def post_reviews(store, ratings, prefix="A"):
    for i, rating in enumerate(ratings):
        member = make_member(first_name=f"Client{prefix}{i}")
        purchase = purchases.record_purchase(store=store, order_id=f"{prefix}-{i}",
                                             amount=Decimal("10.00"), member=member).obj
        reviews.post_review(member=member, purchase_id=purchase.pk, rating=rating,
                            comment=f"Comment {prefix}{i}")


def follow_up_url(review) -> str:
    return reverse("staff:review-follow-up", args=[review.pk])


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_cashiers_and_customers_are_refused(client, cashier_client, store, marie):
    post_reviews(store, [1])
    review = Review.objects.get()
    assert cashier_client.get(PAGE).status_code == 403
    response = cashier_client.post(follow_up_url(review), {"store": "paris", "note": "x"})
    assert response.status_code == 403
    client.force_login(marie.user)
    assert client.get(PAGE).status_code == 403
    assert Review.objects.get().followed_up_at is None


def test_a_manager_sees_the_figures_the_latest_and_the_follow_ups(manager_client, store, scale):
    post_reviews(store, [5, 4, 1, 2])
    response = manager_client.get(PAGE)
    assert response.status_code == 200
    text = page_text(response)
    assert "Customer reviews: Paris" in text
    content = response.content.decode()
    assert re.search(r'id="review-count">4<', content)
    assert "3.00 out of 5" in text
    waiting = re.search(r'id="reviews-waiting".*?</ol>', content, re.S).group(0)
    assert "Comment A2" in waiting and "Comment A3" in waiting and "Comment A0" not in waiting
    assert waiting.count("Mark followed up") == 2
    latest = re.search(r'id="reviews-latest".*?</ol>', content, re.S).group(0)
    assert all(f"Comment A{i}" in latest for i in range(4))


def test_a_manager_marks_a_low_rating_followed_up(manager_client, manager, store, scale):
    post_reviews(store, [1])
    review = Review.objects.get()
    response = manager_client.post(follow_up_url(review), {"store": "paris",
                                                           "note": "Called, refunded"})
    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}?store=paris"
    review.refresh_from_db()
    assert review.followed_up_by == manager and review.follow_up_note == "Called, refunded"
    text = page_text(manager_client.get(response["Location"]))
    assert "The review is marked as followed up." in text
    assert "Nothing waiting." in text
    assert "Called, refunded" in text


def test_a_manager_of_paris_cannot_see_or_follow_up_lyon(manager_client, store, lyon, scale):
    post_reviews(lyon, [1], prefix="L")
    review = Review.objects.get()
    assert manager_client.get(PAGE, {"store": "lyon"}).status_code == 403
    assert manager_client.get(PAGE, {"store": "<script>"}).status_code == 403
    # Naming their own store does not reach another store's review.
    response = manager_client.post(follow_up_url(review), {"store": "paris", "note": "x"})
    assert response.status_code == 302
    response = manager_client.post(follow_up_url(review), {"store": "lyon", "note": "x"})
    assert response.status_code == 403
    review.refresh_from_db()
    assert review.followed_up_at is None
    assert "Comment L0" not in page_text(manager_client.get(PAGE))


def test_a_programme_admin_sees_every_store(client, store, lyon, scale):
    admin = StaffRoleFactory(user=UserFactory(email="admin@example.com"), store=None,
                             role=StaffRole.Role.ADMIN).user
    client.force_login(admin)
    post_reviews(store, [5, 3])
    post_reviews(lyon, [1], prefix="L")
    text = page_text(client.get(PAGE, {"store": "lyon"}))
    assert "Customer reviews: Lyon" in text and "Comment L0" in text
    table = re.search(r'id="review-stores".*?</table>', client.get(PAGE).content.decode(),
                      re.S).group(0)
    assert "Lyon" in table and "Paris" in table and "4.00" in table


def test_the_dashboard_counts_the_reviews_waiting(manager_client, cashier, store, scale):
    post_reviews(store, [1, 2, 5])
    text = page_text(manager_client.get(reverse("staff:dashboard")))
    assert "2 low ratings need a follow-up" in text
    assert f'href="{PAGE}"' in manager_client.get(reverse("staff:dashboard")).content.decode()
    cashier_client = Client()
    cashier_client.force_login(cashier)
    cashier_text = page_text(cashier_client.get(reverse("staff:dashboard")))
    assert "Customer reviews" not in cashier_text


def test_the_page_query_count_is_flat_with_the_number_of_reviews(
        manager_client, store, scale, django_assert_max_num_queries):
    post_reviews(store, [1, 5])
    manager_client.get(PAGE)
    with django_assert_max_num_queries(30) as few:
        manager_client.get(PAGE)
    post_reviews(store, [1, 2, 3, 4, 5] * 6, prefix="B")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = manager_client.get(PAGE)
    assert response.content.decode().count("Mark followed up") == 1 + 12


def test_the_page_renders_in_french(manager_client, store, scale):
    post_reviews(store, [1, 4])
    response = manager_client.get(PAGE, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 200 and response["Content-Language"] == "fr"
    text = page_text(response).replace("\u202f", " ").replace("\xa0", " ")
    assert "2,50" in text  # the average, with the French decimal comma
    assert "Personnel" in page_text(manager_client.get(reverse("staff:dashboard"),
                                                       HTTP_ACCEPT_LANGUAGE="fr"))
