"""The customer portal's pages: who sees what, nobody reads another member's data, and
home's query count does not grow with the history."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Member, PointsEntry
from loyalty.services import ledger
from loyalty.services.purchases import record_purchase
from rewards.models import Reward
from tests.factories import (
    ActionRuleFactory,
    MultiplierFactory,
    StoreFactory,
    TierFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PAGES = ["history", "profile", "profile-export", "profile-delete"]


def page_text(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_anonymous_home_explains_the_programme_from_the_live_scale(client, scale):
    TierFactory(code="silver", name="Silver", rank=1, threshold=500)
    ActionRuleFactory(event_type="referral", name="Referring a friend", points=200)
    response = client.get("/")
    text = page_text(response)
    assert response.status_code == 200
    assert "1 point per euro" in text  # the rule's name, as a title
    assert "1 point per €1 spent" in text  # what it does, from its numbers
    assert "Referring a friend" in text
    assert "200 points for each friend you invite, after their first purchase" in text
    assert "Silver" in text
    assert reverse("account_signup") in text and reverse("account_login") in text


def test_anonymous_home_hides_ended_offers_and_shows_upcoming_ones_apart(client, scale):
    now = timezone.now()
    MultiplierFactory(name="Black Friday last year", factor=3,
                      starts_at=now - timedelta(days=370), ends_at=now - timedelta(days=365))
    MultiplierFactory(name="Winter sale", factor=2, starts_at=now + timedelta(days=20))
    closed = StoreFactory(code="closed", name="Closed shop", active=False)
    MultiplierFactory(name="Closed shop bonus", factor=4, store=closed)
    text = page_text(client.get("/"))
    assert "Black Friday" not in text and "×3" not in text
    assert "Closed shop" not in text
    current, upcoming = text.split("Coming soon")
    assert "1 point per €1 spent" in current and "Winter sale" not in current
    assert "Winter sale" in upcoming and "×2 points, from " in upcoming


def test_a_login_without_a_member_gets_a_plain_page(client):
    client.force_login(UserFactory())
    for name in PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert "not linked" in page_text(response)
    assert "not linked" in page_text(client.get("/"))


def test_home_shows_points_tier_progress_expiring_activity_and_rewards(marie_client, marie,
                                                                        scale, store):
    TierFactory(code="base", name="Base", rank=0, threshold=0)
    TierFactory(code="gold", name="Gold", rank=1, threshold=1000)
    record_purchase(store=store, order_id="A1043", amount="120.00", member=marie)
    ledger.adjust_points(member_id=marie.pk, points=5, reason="Welcome gift")
    Reward.objects.create(name="Coffee", kind=Reward.Kind.GIFT, points_cost=100)
    Reward.objects.create(name="Spa day", kind=Reward.Kind.GIFT, points_cost=5000)
    response = marie_client.get("/")
    text = page_text(response)
    assert response.status_code == 200
    assert "125 points" in text
    assert '<progress id="tier-progress"' in text and 'max="1000"' in text and 'value="120"' in text
    assert "880" in text  # still needed for Gold
    assert "Coffee" in text and "Spa day" not in text
    assert "Welcome gift" in text
    assert "style=" not in text
    assert reverse("join", args=["x"]).rsplit("x", 1)[0] in text  # the share link


def test_home_lists_points_expiring_within_30_days(marie_client, marie):
    from loyalty.models import PointsLot

    ledger.adjust_points(member_id=marie.pk, points=40, reason="Goodwill")
    PointsLot.objects.filter(member=marie).update(expires_at=timezone.now() + timedelta(days=10))
    text = page_text(marie_client.get("/"))
    assert "Expiring within 30 days" in text
    assert "40 on" in text


def test_home_query_count_does_not_grow_with_the_history(marie_client, marie, scale, store):
    TierFactory(code="gold", name="Gold", rank=1, threshold=1000)
    record_purchase(store=store, order_id="first", amount="10.00", member=marie)
    marie_client.get("/")
    with CaptureQueriesContext(connection) as few:
        assert marie_client.get("/").status_code == 200
    for number in range(30):
        record_purchase(store=store, order_id=f"more-{number}", amount="10.00", member=marie)
    with CaptureQueriesContext(connection) as many:
        assert marie_client.get("/").status_code == 200
    assert len(many) == len(few)
    assert len(few) <= 15


def test_history_says_each_line_in_plain_words_with_the_purchase_breakdown(
        marie_client, marie, scale):
    paris = StoreFactory(code="paris", name="Paris")
    MultiplierFactory(name="Double weekend", factor=2)
    record_purchase(store=paris, order_id="A1043", amount="20.00", member=marie)
    ledger.adjust_points(member_id=marie.pk, points=-3, reason="Correction")
    text = page_text(marie_client.get(reverse("history")))
    assert "purchase #A1043 at Paris" in text
    assert "Double weekend" in text
    assert "Correction" in text
    assert "+40 points" in text or "+20 points" in text
    assert "-3 points" in text


def test_history_filters_by_kind_and_paginates(marie_client, marie):
    for number in range(30):
        ledger.adjust_points(member_id=marie.pk, points=number + 1, reason=f"gift {number}")
    page1 = page_text(marie_client.get(reverse("history")))
    assert "gift 29" in page1 and "gift 0<" not in page1 and "Page 1 of 2" in page1
    page2 = page_text(marie_client.get(reverse("history"), {"page": 2}))
    assert "gift 0" in page2
    earned = page_text(marie_client.get(reverse("history"), {"kind": "earn"}))
    assert "Nothing to show." in earned
    assert marie_client.get(reverse("history"), {"kind": "bogus", "page": "x"}).status_code == 200


def test_nobody_reads_another_members_data_by_changing_ids(client, marie, other):
    ledger.adjust_points(member_id=marie.pk, points=77, reason="Marie's secret gift")
    client.force_login(other.user)
    for name in PAGES[:2]:
        for query in ({"member": marie.pk}, {"member_id": marie.pk}, {"id": marie.pk},
                      {"card_number": marie.card_number}):
            text = page_text(client.get(reverse(name), query))
            assert "Marie" not in text and "secret gift" not in text
            assert marie.card_number not in text
    export = client.post(reverse("profile-export") + f"?member={marie.pk}")
    assert json.loads(export.content)["profile"]["email"] == "pierre@example.com"
    for url in (f"/history/{marie.pk}/", f"/profile/{marie.pk}/",
                f"/profile/export/{marie.pk}/", f"/profile/delete/{marie.pk}/"):
        assert client.get(url).status_code == 404
    response = client.post(reverse("profile-delete") + f"?member={marie.pk}",
                           {"member": marie.pk, "confirm": "on", "password": "a-test-password"})
    assert response.status_code == 302
    marie.refresh_from_db()
    assert marie.status == Member.Status.ACTIVE and marie.email == "marie@example.com"


def test_profile_saves_names_phone_birth_date_language_and_dated_consents(marie_client, marie):
    response = marie_client.post(reverse("profile"), {
        "first_name": "Marie", "last_name": "Sklodowska", "phone": "06 98 76 54 32",
        "birth_date": "1967-11-07", "language": "fr", "email_marketing": "on"})
    assert response.status_code == 302
    marie.refresh_from_db()
    assert marie.last_name == "Sklodowska" and marie.phone == "+33698765432"
    assert str(marie.birth_date) == "1967-11-07" and marie.language == "fr"
    assert marie.user.language == "fr"
    assert marie.email_marketing and marie.email_marketing_at is not None
    assert not marie.sms_marketing
    assert marie.consent_changes.filter(channel="email", granted=True, source="portal").exists()
    assert response.cookies["django_language"].value == "fr"


def test_profile_refuses_a_phone_of_another_member_as_a_bad_one_without_saying_whose(
        marie_client, marie, other):
    other.phone = "+33611111111"
    other.save()
    base = {"first_name": "M", "last_name": "C", "language": "en"}
    taken = marie_client.post(reverse("profile"), {**base, "phone": "+33611111111"})
    bad = marie_client.post(reverse("profile"), {**base, "phone": "12"})
    assert taken.status_code == bad.status_code == 200
    words = "This phone number cannot be saved"
    assert words in page_text(taken) and words in page_text(bad)
    assert "another member" not in page_text(taken)
    marie.refresh_from_db()
    assert marie.phone == "+33612345678"


def test_profile_shows_every_error_at_once_in_the_readers_language(marie_client, marie):
    response = marie_client.post(reverse("profile"), {
        "first_name": "M", "last_name": "C", "language": "en", "phone": "12",
        "birth_date": "2999-01-01"}, HTTP_ACCEPT_LANGUAGE="en")
    text = page_text(response)
    assert response.status_code == 200
    assert "This phone number cannot be saved" in text
    assert "Enter a birth date between 1900 and today." in text
    assert "not a plausible birth date" not in text and "not a valid phone" not in text
    marie.refresh_from_db()
    assert marie.phone == "+33612345678" and marie.birth_date is None


def test_export_is_confirmed_then_downloads_everything(marie_client, marie):
    assert "Download the file" in page_text(marie_client.get(reverse("profile-export")))
    response = marie_client.post(reverse("profile-export"))
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    for key in ("profile", "consents", "cards", "purchases", "ledger", "vouchers", "messages"):
        assert key in data
    assert data["messages"] == []  # none sent to Marie yet


def test_deleting_the_account_needs_the_box_and_the_password(marie_client, marie):
    page = marie_client.get(reverse("profile-delete"))
    assert "Delete my account for good" in page_text(page)
    wrong = marie_client.post(reverse("profile-delete"), {"confirm": "on", "password": "nope"})
    assert wrong.status_code == 200 and "not your password" in page_text(wrong)
    unticked = marie_client.post(reverse("profile-delete"), {"password": "a-test-password"})
    assert unticked.status_code == 200
    marie.refresh_from_db()
    assert marie.status == Member.Status.ACTIVE
    done = marie_client.post(reverse("profile-delete"),
                             {"confirm": "on", "password": "a-test-password"})
    assert done.status_code == 302
    marie.refresh_from_db()
    assert marie.status == Member.Status.DELETED
    assert "_auth_user_id" not in marie_client.session
    assert marie_client.get(reverse("history")).status_code == 302


def test_the_share_link_remembers_the_referrer_and_leads_to_sign_up(client, marie):
    from accounts.signals import REFERRER_SESSION_KEY
    from loyalty.portal.views import referral_code

    response = client.get(reverse("join", args=[referral_code(marie)]))
    assert response.status_code == 200 and reverse("account_signup") in page_text(response)
    assert client.session[REFERRER_SESSION_KEY] == marie.pk
    forged = client.get(reverse("join", args=[f"{marie.pk}:forged"]))
    assert forged.status_code == 200 and "Marie" not in page_text(forged)


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/signup/",
                                 "/accounts/password/reset/"])
def test_allauth_pages_use_the_site_layout_with_labels(client, url):
    text = page_text(client.get(url))
    assert 'class="site-header"' in text and 'class="account-form"' in text
    assert "<label" in text and "style=" not in text


def test_password_change_page_uses_the_site_layout(marie_client):
    text = page_text(marie_client.get(reverse("account_change_password")))
    assert 'class="site-header"' in text and "<label" in text


def test_entries_are_all_the_members_own(marie_client, marie, other):
    ledger.adjust_points(member_id=other.pk, points=9, reason="Pierre only")
    assert "Pierre only" not in page_text(marie_client.get(reverse("history")))
    assert PointsEntry.objects.filter(member=other).exists()


def test_history_query_count_does_not_grow_with_the_page(marie_client, marie, scale, store):
    record_purchase(store=store, order_id="only", amount="10.00", member=marie)
    marie_client.get(reverse("history"))
    with CaptureQueriesContext(connection) as few:
        marie_client.get(reverse("history"))
    for number in range(30):
        record_purchase(store=store, order_id=f"p-{number}", amount="10.00", member=marie)
    with CaptureQueriesContext(connection) as many:
        text = page_text(marie_client.get(reverse("history")))
    assert "purchase #p-29 at Paris" in text
    assert len(many) == len(few) <= 8
