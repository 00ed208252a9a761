"""Bounces and complaints from the email provider (django-anymail's tracking signal): the
address is undeliverable, later email is suppressed `bounced`, a complaint withdraws the
email marketing consent."""

from datetime import timedelta

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.core import mail

from loyalty.models import ConsentChange, EmailBounce, Journey, Member, Message
from loyalty.services import members
from loyalty.services.messaging import bounces
from loyalty.services.privacy import erase_member
from tests.loyalty.services.test_messaging import NOON, consenting, queue_one, send_now

pytestmark = pytest.mark.django_db
Reason = Message.Reason


def provider_says(event_type, recipient, *, event_id="evt-1", **fields):
    """What anymail sends for a provider's tracking webhook, already normalised."""
    event = AnymailTrackingEvent(event_type=event_type, recipient=recipient, event_id=event_id,
                                 timestamp=NOON - timedelta(hours=1), **fields)
    tracking.send(sender=object, event=event, esp_name="Postmark")
    return event


def test_a_bounce_suppresses_later_email_with_the_reason_bounced(member):
    consenting(member, "email")
    provider_says("bounced", "Marie@Example.com", description="Mailbox does not exist")
    bounce = EmailBounce.objects.get()
    assert (bounce.address, bounce.member, bounce.event, bounce.provider, bounce.description) == (
        "marie@example.com", member, "bounced", "Postmark", "Mailbox does not exist")
    message = queue_one(member)
    assert send_now(message, now=NOON) == {"suppressed": 1}
    assert (message.status, message.reason) == (Message.Status.SUPPRESSED, Reason.BOUNCED)
    assert mail.outbox == []
    member.refresh_from_db()
    assert member.email_marketing  # a bounce is not a withdrawal of consent


def test_a_bounce_suppresses_service_email_too(member):
    provider_says("bounced", member.email)
    message = queue_one(member, kind=Journey.Kind.POINTS_EXPIRING, points=10,
                        date="2026-12-01")
    assert message.purpose == "service"
    assert send_now(message, now=NOON) == {"suppressed": 1}
    assert message.reason == Reason.BOUNCED


def test_a_complaint_withdraws_email_marketing_with_the_source_complaint(member):
    consenting(member, "email")
    provider_says("complained", member.email)
    member.refresh_from_db()
    assert not member.email_marketing
    change = ConsentChange.objects.filter(member=member).first()
    assert (change.channel, change.granted, change.source) == ("email", False, "complaint")
    message = queue_one(member)
    send_now(message, now=NOON)
    assert message.reason == Reason.BOUNCED  # undeliverable comes before consent


def test_the_same_event_twice_is_recorded_once(member):
    provider_says("complained", member.email)
    members.set_consent(member_id=member.pk, channel="email", granted=True, source="profile")
    provider_says("complained", member.email)  # the provider retried its webhook
    assert EmailBounce.objects.count() == 1
    member.refresh_from_db()
    assert member.email_marketing  # the retry did not withdraw the consent given since


def test_an_event_without_an_id_is_recorded_once_too(member):
    provider_says("bounced", member.email, event_id=None)
    provider_says("bounced", member.email, event_id=None)
    assert EmailBounce.objects.count() == 1


def test_delivered_opened_deferred_and_policy_rejections_change_nothing(member):
    consenting(member, "email")
    for n, kind in enumerate(("delivered", "opened", "clicked", "deferred", "queued")):
        provider_says(kind, member.email, event_id=f"e{n}")
    provider_says("rejected", member.email, event_id="r1", reject_reason="blocked")
    provider_says("bounced", "", event_id="r2")  # no recipient: nothing to mark
    assert not EmailBounce.objects.exists()
    assert send_now(queue_one(member), now=NOON) == {"sent": 1}


def test_a_rejection_for_a_bad_address_counts_as_a_bounce(member):
    provider_says("rejected", member.email, reject_reason="invalid")
    assert bounces.undeliverable(member.email)


def test_a_new_address_is_reachable_again(member):
    consenting(member, "email")
    provider_says("bounced", member.email)
    Member.objects.filter(pk=member.pk).update(email="marie.new@example.com")
    member.refresh_from_db()
    assert send_now(queue_one(member), now=NOON) == {"sent": 1}


def test_a_bounce_for_an_unknown_address_is_kept_without_a_member(member):
    provider_says("bounced", "nobody@example.com")
    assert EmailBounce.objects.get().member is None


def test_erasing_the_member_deletes_their_bounces(member):
    provider_says("bounced", member.email)
    erase_member(member=member)
    assert not EmailBounce.objects.exists()


def test_a_providers_bounce_webhook_reaches_the_service(client, settings, member):
    """End to end: Postmark's bounce webhook, authenticated, through anymail's view."""
    import base64
    import json

    settings.ROOT_URLCONF = "tests.loyalty.services.anymail_urls"
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    body = json.dumps({"RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce",
                       "TypeCode": 1, "Email": member.email, "MessageID": "m-1",
                       "BouncedAt": "2026-11-27T10:00:00Z", "Description": "Unknown user",
                       "Details": "smtp;550 5.1.1"})
    url = "/anymail/postmark/tracking/"
    assert client.post(url, body, content_type="application/json").status_code == 400
    auth = "Basic " + base64.b64encode(b"hook:s3cret").decode()
    response = client.post(url, body, content_type="application/json",
                           HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    bounce = EmailBounce.objects.get()
    assert (bounce.member, bounce.event, bounce.provider) == (member, "bounced", "Postmark")


def test_a_cleared_address_is_sent_to_again(member):
    consenting(member, "email")
    provider_says("bounced", member.email, event_id="evt-1")
    provider_says("bounced", member.email.upper(), event_id="evt-2")
    assert bounces.undeliverable(member.email)
    assert bounces.clear_address(address=f" {member.email.upper()} ") == 2
    assert not bounces.undeliverable(member.email)
    message = queue_one(member)
    assert send_now(message, now=NOON) == {"sent": 1}


def test_the_admin_clears_the_selected_addresses(admin_client, member):
    from django.urls import reverse

    provider_says("bounced", member.email)
    response = admin_client.post(reverse("admin:loyalty_emailbounce_changelist"), {
        "action": "clear_addresses", "_selected_action": [EmailBounce.objects.get().pk]})
    assert response.status_code == 302
    assert not EmailBounce.objects.exists()


def test_erasure_also_deletes_bounces_that_came_before_the_address_was_a_members(member):
    provider_says("bounced", "stranger@example.com", event_id="early")
    assert EmailBounce.objects.get().member is None
    Member.objects.filter(pk=member.pk).update(email="stranger@example.com")
    member.refresh_from_db()
    erase_member(member=member)
    assert not EmailBounce.objects.exists()
