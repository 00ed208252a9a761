"""Joining online in a real browser: sign up with a first name, confirm the email from the
outbox, be greeted by that name with the welcome points on the home page, then switch the
site to French from the footer (which the member's preferred language follows)."""

import re

import pytest
from django.core import mail

from accounts.models import User
from loyalty.models import Member
from tests.browser.conftest import open_page
from tests.factories import ActionRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "new.customer@example.com"
PASSWORD = "a-long-Passw0rd!"


def confirmation_path(outbox) -> str:
    """The confirmation link of the only email sent, as a path on the live server."""
    assert len(outbox) == 1, [message.subject for message in outbox]
    assert outbox[0].to == [EMAIL]
    url = re.search(r"https?://\S+/accounts/confirm-email/\S+/", outbox[0].body).group(0)
    return "/" + url.split("/", 3)[3]


def test_a_newcomer_signs_up_confirms_sees_the_welcome_points_and_switches_to_french(
        browser, live_server):
    ActionRuleFactory(event_type="account_created", name="Welcome bonus", points=50,
                      limit_count=1)
    watched = open_page(browser, live_server)
    page = watched.page

    page.goto("/accounts/signup/")
    # allauth's labels end with a colon: "Password:" alone, and "Password (again):".
    page.get_by_label("First name:", exact=True).fill("Camille")
    page.get_by_label("Email:", exact=True).fill(EMAIL)
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again):", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))

    # Signed up but not confirmed: no member holds the login yet, and no welcome points.
    user = User.objects.get(email=EMAIL)
    assert not Member.objects.filter(user=user).exists()
    assert not Member.objects.filter(email=EMAIL).exists()

    page.goto(confirmation_path(mail.outbox))
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm").click()
    # The confirmation itself links the login to a new member, with the welcome points.
    member = Member.objects.get(user=user)
    assert member.email == EMAIL and member.balance == 50 and member.first_name == "Camille"
    if "/accounts/login/" in page.url:  # allauth does not log in on confirmation
        page.get_by_label("Email:", exact=True).fill(EMAIL)
        page.get_by_label("Password:", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url(f"{live_server.url}/")

    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Your points").is_visible()
    assert page.locator(".big").inner_text() == "50 points"
    # Greeted by the first name given at sign-up, never by the card number.
    assert page.get_by_role("heading", level=1).inner_text() == "Hello Camille"
    assert member.card_number not in page.get_by_role("heading", level=1).inner_text()

    page.get_by_label("Language").select_option("fr")
    with page.expect_navigation():
        page.get_by_role("button", name="Change").click()
    page.locator("html[lang=fr]").wait_for(state="attached")
    assert page.url == f"{live_server.url}/"  # back on the home page
    assert page.get_by_role("heading", name="Vos points").is_visible()
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    assert page.locator(".big").inner_text() == "50 points"
    member.refresh_from_db()
    assert member.language == "fr"  # the footer's choice is the member's too
    assert watched.csp_violations == []
