"""Sign-up asks the first name, offers the birth date (with its reason) and the marketing
consents; the account emails speak in the programme's name, layout and reader's language;
the referral link lands on a page saying who invited whom and what both get."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import link_user_to_member
from loyalty.models import ConsentChange, Member
from loyalty.portal.views import referral_code
from tests.factories import ActionRuleFactory, UserFactory, make_member, programme

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-Passw0rd!"


@pytest.fixture
def maison(db):
    return programme(name="Maison Demo Club", primary_colour="#f1c232", point_name="étoile",
                     point_name_plural="étoiles")


def sign_up(client, email="camille@example.com", **extra):
    data = {"first_name": "Camille", "email": email, "password1": PASSWORD,
            "password2": PASSWORD, **extra}
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/accounts/signup/", data)
    return response


def confirm(client):
    url = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post("/" + url.split("/", 3)[3])


# --- The form ------------------------------------------------------------------------------

def test_the_sign_up_form_asks_the_first_name_birth_date_and_consents_each_explained(client):
    ActionRuleFactory(event_type="birthday", name="Birthday bonus", points=150)
    html = client.get("/accounts/signup/").content.decode()
    for field in ("first_name", "birth_date", "email_marketing", "sms_marketing"):
        assert f'name="{field}"' in html, field
    assert re.search(r'name="first_name"[^>]*required', html)
    assert not re.search(r'name="birth_date"[^>]*required', html)
    assert "birthday present: 150 points" in html
    assert "at most 2 messages a week, 1 a day, none between 21:00 and 08:00" in html
    # Never ticked for them.
    assert not re.search(r'name="email_marketing"[^>]*checked', html)


def test_signing_up_without_a_first_name_is_refused_with_the_field_named(client):
    for blank in ("", "   "):
        response = sign_up(client, first_name=blank)
        assert response.status_code == 200
        assert re.search(r'name="first_name"[^>]*aria-invalid="true"',
                         response.content.decode())
        assert not User.objects.filter(email="camille@example.com").exists()


def test_an_impossible_birth_date_is_refused(client):
    response = sign_up(client, birth_date="2999-01-01")
    assert response.status_code == 200 and not User.objects.exists()


def test_a_new_member_gets_the_first_name_birth_date_and_consents_given_at_sign_up(client):
    response = sign_up(client, birth_date="1990-05-17", email_marketing="on")
    assert response.status_code == 302
    user = User.objects.get(email="camille@example.com")
    assert user.first_name == "Camille"
    assert user.signup_answers["email_marketing"] is True
    assert not Member.objects.filter(email=user.email).exists()  # not before confirming
    confirm(client)
    member = Member.objects.get(user=user)
    assert member.first_name == "Camille" and str(member.birth_date) == "1990-05-17"
    assert member.email_marketing and not member.sms_marketing
    (change,) = ConsentChange.objects.filter(member=member)
    assert (change.channel, change.granted, change.source) == ("email", True, "signup")
    assert member.email_marketing_at == change.at
    user.refresh_from_db()
    assert user.signup_answers == {}  # kept no longer than needed


def test_the_new_member_is_greeted_by_first_name_not_card_number(client):
    sign_up(client)
    confirm(client)
    user = User.objects.get(email="camille@example.com")
    member = Member.objects.get(user=user)
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Hello Camille" in html and f"Hello {member.card_number}" not in html


def test_an_in_store_member_keeps_what_the_till_knew_and_gets_the_blanks_filled(client):
    in_store = make_member(email="camille@example.com", first_name="Cami")
    sign_up(client, birth_date="1990-05-17", sms_marketing="on")
    confirm(client)
    in_store.refresh_from_db()
    assert in_store.first_name == "Cami"  # the till's spelling stays
    assert str(in_store.birth_date) == "1990-05-17" and in_store.sms_marketing


def test_consents_not_given_are_not_recorded_as_given(db):
    user = UserFactory(email="ines@example.com", first_name="Inès")
    user.signup_answers = {"birth_date": "not a date", "email_marketing": "yes",
                           "sms_marketing": False, "at": timezone.now().isoformat()}
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    member = link_user_to_member(user=user)
    assert member.first_name == "Inès" and member.birth_date is None
    assert not member.email_marketing and not ConsentChange.objects.exists()


# --- The referral landing page -------------------------------------------------------------

def test_the_referral_link_says_who_invites_and_what_both_get(client, maison):
    ActionRuleFactory(event_type="account_created", name="Welcome bonus", points=50)
    ActionRuleFactory(event_type="referral", name="Referring a friend", points=200)
    marie = make_member(email="marie@example.com", first_name="Marie", last_name="Curie")
    response = client.get(reverse("join", args=[referral_code(marie)]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Marie invites you to join Maison Demo Club" in html
    assert "Curie" not in html and "marie@example.com" not in html  # first name only
    assert "You get 50 étoiles" in html and "Marie gets 200 étoiles" in html
    assert reverse("account_signup") in html


def test_a_referral_without_active_rules_promises_nothing(client):
    marie = make_member(email="marie@example.com", first_name="Marie")
    html = client.get(reverse("join", args=[referral_code(marie)])).content.decode()
    assert "Marie invites you" in html and " gets " not in html and "You get" not in html


def test_the_share_link_has_a_share_button_from_a_js_module(client):
    user = UserFactory(email="marie@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    make_member(email=user.email, user=user, first_name="Marie")
    client.force_login(user)
    html = client.get("/profile/").content.decode()
    assert 'id="share-button"' in html
    assert '<script type="module" src="/static/js/share.js"></script>' in html
    from django.contrib.staticfiles import finders

    with open(finders.find("js/share.js")) as source:
        code = source.read()
    assert "navigator.share" in code and "clipboard.writeText" in code


# --- The account emails --------------------------------------------------------------------

def test_the_confirmation_email_is_the_programmes_in_html_and_text(client, maison, settings):
    settings.LOYALTY_SITE_URL = "https://club.example.com"
    sign_up(client)
    (message,) = mail.outbox
    assert message.subject == "Welcome to Maison Demo Club: confirm your email address"
    assert "127.0.0.1" not in message.subject and "testserver" not in message.subject
    assert message.body.startswith("Hello Camille,")
    assert "Hello from" not in message.body
    assert "The Maison Demo Club team\nhttps://club.example.com" in message.body
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert "Maison Demo Club" in html and "#f1c232" in html and "Hello Camille," in html
    assert re.search(r'href="https?://\S+/accounts/confirm-email/', html)


def test_the_password_reset_email_is_in_the_members_language(client, maison):
    user = UserFactory(email="marie@example.com", first_name="Marie", language="fr")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    make_member(email=user.email, user=user, first_name="Marie", language="fr")
    with TestCase.captureOnCommitCallbacks(execute=True):
        client.post("/accounts/password/reset/", {"email": user.email},
                    HTTP_ACCEPT_LANGUAGE="en")
    (message,) = mail.outbox
    assert message.subject.startswith("Maison Demo Club") or "Maison Demo Club" in (
        message.subject)
    assert "Marie" in message.body and "/accounts/password/reset/key/" in message.body
    ((html, _mimetype),) = message.alternatives
    assert '<html lang="fr">' in html


def test_signing_up_again_mails_the_owner_in_the_programmes_words(client, maison):
    user = UserFactory(email="camille@example.com", first_name="Camille")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    sign_up(Client())
    (message,) = mail.outbox
    assert message.subject == "You already have a Maison Demo Club account"
    assert "Hello Camille," in message.body and "Hello from" not in message.body
    assert "/accounts/password/reset/" in message.body
    assert message.alternatives and "Maison Demo Club" in message.alternatives[0][0]


def test_every_account_email_template_has_text_and_html_in_the_layout():
    from django.template.loader import get_template

    for name in ("email_confirmation", "email_confirmation_signup", "password_reset_key",
                 "account_already_exists", "unknown_account", "password_changed",
                 "password_reset", "password_set", "email_changed", "email_confirm",
                 "email_deleted", "login_code", "password_reset_code"):
        html = get_template(f"account/email/{name}_message.html").template.source
        assert "extends" in html, name
        get_template(f"account/email/{name}_message.txt")
        get_template(f"account/email/{name}_subject.txt")


def test_no_account_email_says_hello_from_the_host(maison, rf):
    from allauth.account.adapter import get_adapter
    from allauth.core import context as allauth_context

    request = rf.get("/")
    request.LANGUAGE_CODE = "en"
    adapter = get_adapter(request)
    with allauth_context.request_context(request):
        for prefix, extra in [("unknown_account", {"signup_url": "https://x/accounts/signup/"}),
                              ("password_changed", {"ip": "1.2.3.4", "user_agent": "UA",
                                                    "timestamp": "now"})]:
            message = adapter.render_mail(f"account/email/{prefix}", "a@example.com", {
                "email": "a@example.com", "current_site": "testserver", **extra})
            assert "Hello from" not in message.body and "Maison Demo Club" in message.body
            assert "Maison Demo Club" in message.subject
            assert "Maison Demo Club" in message.alternatives[0][0]


def test_the_consents_promise_the_caps_own_numbers(settings, db):
    from django.utils import translation

    from accounts.forms import SignupForm
    from loyalty.staff.forms import IssueCardForm

    settings.LOYALTY_MARKETING_PER_WEEK, settings.LOYALTY_MARKETING_PER_DAY = 3, 1
    settings.LOYALTY_QUIET_HOURS = (22, 7)
    with translation.override("en"):
        email_help = str(SignupForm().fields["email_marketing"].help_text)
        till_help = str(IssueCardForm().fields["email_marketing"].help_text)
    for text in (email_help, till_help):
        assert "at most 3 messages a week, 1 a day, none between 22:00 and 07:00" in text
    settings.LOYALTY_MARKETING_PER_WEEK, settings.LOYALTY_QUIET_HOURS = 1, (8, 8)
    with translation.override("fr"):
        text = str(SignupForm().fields["sms_marketing"].help_text)
    assert "au plus 1 message par semaine)" in text and "twice" not in text
