"""Accounts and members: linking only after a confirmed email, the welcome points once,
referrals once per friend, the data export, and erasure that keeps the books."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import link_user_to_member
from loyalty.models import ActionEvent, Card, ExternalId, Member, Message, PointsEntry, Purchase
from loyalty.services import members as member_services
from loyalty.services.audit import audit_ledger
from loyalty.services.privacy import erase_member, export_member_data
from loyalty.services.purchases import record_purchase
from loyalty.services.referrals import credit_referral
from rewards.models import Reward
from rewards.services import redeem_reward
from tests.factories import ActionRuleFactory, StoreFactory, UserFactory, make_member

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-Passw0rd!"


@pytest.fixture
def rules(db):
    return {
        "account_created": ActionRuleFactory(event_type="account_created", name="Welcome bonus",
                                             points=50, limit_count=1),
        "referral": ActionRuleFactory(event_type="referral", name="Referring a friend",
                                      points=200),
    }


def sign_up(client, email):
    # The confirmation is queued once the sign-up commits (accounts.tasks).
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post("/accounts/signup/", {"first_name": "Ada", "email": email,
                                                     "password1": PASSWORD,
                                                     "password2": PASSWORD})
    assert response.status_code == 302
    return User.objects.get(email=email)


def confirm(client):
    url = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    path = "/" + url.split("/", 3)[3]
    response = client.post(path)
    assert response.status_code == 302
    return response


def test_an_in_store_member_is_linked_only_after_the_email_is_confirmed(client, rules):
    in_store = make_member(email="jeanne@example.com", first_name="Jeanne")
    user = sign_up(client, "jeanne@example.com")
    in_store.refresh_from_db()
    assert in_store.user is None  # an unconfirmed address grants nothing
    assert link_user_to_member(user=user) is None  # nor does calling the service early
    confirm(client)
    in_store.refresh_from_db()
    assert in_store.user == user
    assert Member.objects.filter(email="jeanne@example.com").count() == 1
    assert in_store.balance == 50


def test_a_new_person_gets_a_new_member_and_the_welcome_points_once(client, rules):
    user = sign_up(client, "new@example.com")
    assert not Member.objects.filter(email="new@example.com").exists()
    confirm(client)
    member = Member.objects.get(user=user)
    assert member.email == "new@example.com" and member.cards.count() == 1
    assert link_user_to_member(user=user) == member  # again: nothing more
    member.refresh_from_db()
    assert member.balance == 50
    assert ActionEvent.objects.filter(member=member, event_id=f"account_created:{user.pk}"
                                      ).count() == 1


def test_linking_never_takes_a_member_linked_to_another_login(rules):
    owner = UserFactory(email="old@example.com")
    member = make_member(email="shared@example.com", user=owner)
    newcomer = UserFactory(email="shared@example.com")
    EmailAddress.objects.create(user=newcomer, email=newcomer.email, verified=True)
    assert link_user_to_member(user=newcomer) is None
    member.refresh_from_db()
    assert member.user == owner


def test_linking_without_an_action_rule_still_links():
    user = UserFactory(email="plain@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True)
    member = link_user_to_member(user=user)
    assert member.user == user and member.balance == 0


def test_a_friend_from_a_share_link_earns_the_referrer_points_on_a_first_purchase(
        client, rules, scale, store):
    from loyalty.portal.views import referral_code

    referrer = make_member(email="referrer@example.com")
    client.get(reverse("join", args=[referral_code(referrer)]))
    user = sign_up(client, "friend@example.com")
    confirm(client)
    friend = Member.objects.get(user=user)
    assert friend.referred_by == referrer
    record_purchase(store=store, order_id="F1", amount="10.00", member=friend)
    record_purchase(store=store, order_id="F2", amount="10.00", member=friend)
    referrer.refresh_from_db()
    assert referrer.balance == 200
    assert ActionEvent.objects.filter(event_id=f"referral:{friend.pk}").count() == 1


def test_no_referral_points_for_oneself_or_for_a_later_purchase(rules, scale, store):
    me = make_member(email="me@example.com")
    me.referred_by = me
    me.save()
    record_purchase(store=store, order_id="S1", amount="10.00", member=me)
    assert not ActionEvent.objects.filter(rule=rules["referral"]).exists()
    referrer = make_member(email="ref@example.com")
    old_customer = make_member(email="old-customer@example.com")
    record_purchase(store=store, order_id="O1", amount="10.00", member=old_customer)
    old_customer.referred_by = referrer
    old_customer.save()
    purchase = record_purchase(store=store, order_id="O2", amount="10.00",
                               member=old_customer).obj
    credit_referral(purchase=purchase)
    assert not ActionEvent.objects.filter(rule=rules["referral"]).exists()


def test_the_export_holds_everything_listed(rules, scale, store):
    user = UserFactory(email="all@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True)
    member = link_user_to_member(user=user)
    member_services.set_consent(member_id=member.pk, channel="sms", granted=True)
    record_purchase(store=store, order_id="E1", amount="150.00", member=member,
                    items=[{"sku": "TEA", "quantity": 1, "unit_price": "150.00"}])
    reward = Reward.objects.create(name="Tea", kind=Reward.Kind.GIFT, points_cost=100)
    redeem_reward(member=member, reward_id=reward.pk, redemption_id="X1")
    data = export_member_data(member=Member.objects.get(pk=member.pk))
    assert data["profile"]["email"] == "all@example.com"
    assert data["consents"]["current"]["sms"]["granted"] is True
    assert data["consents"]["history"][0]["channel"] == "sms"
    assert data["cards"][0]["number"] == member.card_number
    assert data["purchases"][0]["order_id"] == "E1"
    assert data["purchases"][0]["items"][0]["sku"] == "TEA"
    assert data["purchases"][0]["points_breakdown"]
    assert {line["kind"] for line in data["ledger"]} == {"earn", "redeem"}
    assert data["vouchers"][0]["reward"] == "Tea"
    Message.objects.create(member=member, kind="birthday", occasion=f"birthday:2026:{member.pk}",
                           channel="email", purpose="marketing", context={"points": 50},
                           created_at=timezone.now())
    data = export_member_data(member=Member.objects.get(pk=member.pk))
    [message] = data["messages"]
    assert (message["kind"], message["status"], message["context"]) == (
        "birthday", "queued", {"points": 50})
    assert data["actions"][0]["type"] == "account_created"


def test_after_erasure_nobody_finds_the_person_and_the_ledger_still_balances(
        client, rules, scale, store):
    user = UserFactory(email="gone@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True)
    member = link_user_to_member(user=user)
    member = member_services.existing_member_for(email="gone@example.com")
    member.phone, member.first_name, member.last_name = "+33655555555", "Zoé", "Martin"
    member.save()
    ExternalId.objects.create(member=member, store=store, value="CRM-1")
    member_services.set_consent(member_id=member.pk, channel="email", granted=True)
    record_purchase(store=store, order_id="G1", amount="30.00", member=member)
    client.force_login(user)
    client.get("/")
    assert Session.objects.count() == 1

    erase_member(member=member, by=user)

    member.refresh_from_db()
    assert member.status == Member.Status.DELETED
    assert member_services.existing_member_for(email="gone@example.com") is None
    assert member_services.existing_member_for(phone="+33655555555") is None
    assert not Member.objects.filter(first_name="Zoé").exists()
    assert not Member.objects.filter(last_name="Martin").exists()
    assert not User.objects.filter(email="gone@example.com").exists()
    assert not EmailAddress.objects.filter(email="gone@example.com").exists()
    assert member.birth_date is None and member.user is None
    assert not member.email_marketing and not member.sms_marketing
    assert not ExternalId.objects.filter(member=member).exists()
    assert set(Card.objects.filter(member=member).values_list("status", flat=True)) == {
        "blocked"}
    user.refresh_from_db()
    assert not user.is_active and not user.has_usable_password()
    assert Session.objects.count() == 0
    assert Purchase.objects.filter(member=member).count() == 1
    assert PointsEntry.objects.filter(member=member).exists()
    assert audit_ledger().violations == []
    assert client.get(reverse("history")).status_code == 302
    # The same email may join again, as a new person.
    assert make_member(email="gone@example.com").pk != member.pk


def test_the_seed_users_email_links_on_confirmation_signal():
    """Confirming a secondary address does not relink: the login's own email decides."""
    store = StoreFactory()
    assert store  # keeps the fixture set realistic for the signal
    user = UserFactory(email="main@example.com")
    from allauth.account.signals import email_confirmed

    address = EmailAddress.objects.create(user=user, email="second@example.com", verified=True)
    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)
    assert not Member.objects.filter(user=user).exists()


def test_the_referral_survives_confirming_on_another_device(client, rules):
    from django.test import Client

    from loyalty.portal.views import referral_code

    referrer = make_member(email="host@example.com")
    client.get(reverse("join", args=[referral_code(referrer)]))
    user = sign_up(client, "guest@example.com")
    confirm(Client())  # the link opened on the phone, without the sign-up's session
    assert Member.objects.get(user=user).referred_by == referrer


def test_logging_in_brings_back_the_language_of_the_profile(client):
    user = UserFactory(email="fr@example.com", language="fr")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post("/accounts/login/", {"login": "fr@example.com",
                                                "password": "a-test-password"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "fr"


def test_erasure_forfeits_points_cancels_vouchers_and_erases_merged_identities(
        rules, scale, store):
    from django.utils import timezone

    from loyalty.models import MemberMerge, PointsLot
    from tests.factories import programme

    programme(return_window_days=14, points_validity_days=365)
    member = make_member(email="keep@example.com", first_name="Ana")
    old = make_member(email="old-address@example.com", phone="+33677777777")
    member = member_services.merge_members(survivor_id=member.pk, duplicate_id=old.pk)
    member_services.set_consent(member_id=member.pk, channel="email", granted=True)
    from loyalty.services import ledger

    ledger.adjust_points(member_id=member.pk, points=300, reason="gift")
    record_purchase(store=store, order_id="P1", amount="40.00", member=member)  # pending
    reward = Reward.objects.create(name="Mug", kind=Reward.Kind.GIFT, points_cost=100,
                                   stock=5)
    voucher = redeem_reward(member=member, reward_id=reward.pk, redemption_id="M1").obj.voucher
    assert PointsLot.objects.filter(member=member, released=False).exists()

    erase_member(member=Member.objects.get(pk=member.pk))

    member.refresh_from_db()
    voucher.refresh_from_db()
    reward.refresh_from_db()
    assert member.balance == 0 and member.pending == 0
    assert voucher.status == "cancelled" and reward.stock == 5
    assert member_services.existing_member_for(email="old-address@example.com") is None
    assert member_services.existing_member_for(phone="+33677777777") is None
    assert MemberMerge.objects.get(duplicate=old).moved["identities"] == {"erased": True}
    assert PointsEntry.objects.filter(member=member, reference=f"erasure:{member.pk}").exists()
    assert audit_ledger().violations == []
    assert timezone.now()


def test_the_confirmation_and_logout_pages_use_the_site_layout_without_scripts(client):
    sign_up(client, "layout@example.com")
    url = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    text = client.get("/" + url.split("/", 3)[3]).content.decode()
    assert 'class="site-header"' in text and "layout@example.com" in text
    assert "<script" not in text and "style=" not in text
    user = UserFactory()
    client.force_login(user)
    for path in ("/accounts/logout/", "/accounts/email/"):
        text = client.get(path).content.decode()
        assert 'class="site-header"' in text and "<script" not in text
