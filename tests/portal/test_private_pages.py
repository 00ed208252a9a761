"""Pages with personal data are not stored (Cache-Control: no-store); the language cookie
is SameSite=Lax, and Secure in production (the suite runs with DEBUG off)."""

import pytest
from django.urls import reverse

from accounts.models import StaffRole
from tests.factories import StaffRoleFactory, StoreFactory

pytestmark = pytest.mark.django_db


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.parametrize("url", ["/", "/history/", "/profile/", "/card/", "/rewards/",
                                 "/profile/export/", "/accounts/email/",
                                 "/rewards/vouchers/"])
def test_the_portal_pages_of_a_member_are_not_stored(marie_client, url):
    response = marie_client.get(url)
    assert response.status_code == 200, url
    assert no_store(response) and "private" in response["Cache-Control"]


def test_the_till_and_the_account_pages_are_not_stored(client, marie):
    for url in ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"):
        assert no_store(client.get(url)), url
    cashier = StaffRoleFactory(store=StoreFactory(code="paris"),
                               role=StaffRole.Role.CASHIER).user
    client.force_login(cashier)
    assert no_store(client.get(reverse("staff:scan"), {"store": "paris"}))


def test_the_public_home_page_may_be_cached(client):
    assert not no_store(client.get("/"))


def test_the_language_cookie_is_lax_and_secure(client, marie_client):
    response = client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    cookie = response.cookies["django_language"]
    assert cookie["samesite"] == "Lax" and cookie["secure"] is True
    saved = marie_client.post(reverse("profile"), {
        "first_name": "Marie", "last_name": "Curie", "phone": "", "language": "fr"})
    cookie = saved.cookies["django_language"]
    assert cookie.value == "fr" and cookie["samesite"] == "Lax" and cookie["secure"] is True
