"""Members' messages: rendered in their language, sent once, within consent, caps and
quiet hours, with a one-click unsubscribe."""

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from loyalty.models import (
    ConsentChange,
    Journey,
    Message,
    WebhookDelivery,
    WebhookEndpoint,
)
from loyalty.services import members
from loyalty.services.messaging import delivery, render, unsubscribe
from loyalty.tasks import send_messages

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=PARIS)
Status, Reason = Message.Status, Message.Reason


def journey(kind=Journey.Kind.BIRTHDAY, **fields) -> Journey:
    obj = Journey.objects.get(kind=kind)  # every journey exists (migration), switched off
    for key, value in {"active": True, **fields}.items():
        setattr(obj, key, value)
    obj.save()
    return obj


def consenting(member, *channels):
    for channel in channels:
        members.set_consent(member_id=member.pk, channel=channel, granted=True, source="test")
    member.refresh_from_db()
    return member


def queue_one(member, *, kind=Journey.Kind.BIRTHDAY, occasion=None, now=NOON, **context):
    found = journey(kind) if not Journey.objects.filter(kind=kind, active=True).exists() \
        else Journey.objects.get(kind=kind)
    message = Message(member=member, journey=found, kind=found.kind, channel=found.channel,
                      purpose=found.purpose, priority=found.priority, context=context,
                      occasion=occasion or f"{kind}:{member.pk}:{now.isoformat()}")
    assert delivery.queue([message], now=now) == 1
    return Message.objects.get(occasion=message.occasion)


def send_now(message, *, now):
    """Claim the message as the dispatcher would, then the worker's attempt."""
    with time_machine.travel(now, tick=False):
        ids, claim = delivery.OUTBOX.claim_due(now=now, limit=500)
        assert message.pk in ids
        outcome = delivery.send_batch(message_ids=[message.pk], claim=claim)
    message.refresh_from_db()
    return outcome


# --- Rendering -------------------------------------------------------------------------------


def test_staff_text_reaches_only_the_listed_variables():
    values = {"first_name": "Marie", "points": "40"}
    text = ("{{ first_name }} {{points}} {{ settings.SECRET_KEY }} {{ member.email }} "
            "{% load static %}{{ __class__ }}")
    assert render.fill(text, values) == "Marie 40   {% load static %}"


def test_a_message_is_rendered_in_the_members_language_with_its_formats(member):
    member.language, member.first_name = "fr", "Marie"
    member.save()
    message = queue_one(member, kind=Journey.Kind.POINTS_EXPIRING, points=1234,
                        date="2026-12-29", path="/rewards/")
    rendered = render.render(message, member)
    assert "1\u202f234" in rendered.subject or "1\xa0234" in rendered.subject
    assert "29 déc. 2026" in rendered.text and "Marie" in rendered.text
    member.language = "en"
    member.save()
    english = render.render(message, member)
    assert "1,234" in english.subject and "29 Dec 2026" in english.text


def test_a_journeys_own_text_is_used_in_its_language(member):
    journey(Journey.Kind.BIRTHDAY, subject="Happy day {{ first_name }}",
            subject_fr="Joyeux jour {{ first_name }}", body="EN {{ points }}", body_fr="")
    member.first_name, member.language = "Ada", "fr"
    member.save()
    message = queue_one(member, points=50)
    rendered = render.render(message, member)
    assert rendered.subject == "Joyeux jour Ada"
    assert rendered.text == "EN 50"  # no French text typed: the English one


# --- Sending: once, within consent, caps and quiet hours --------------------------------------


def test_a_marketing_email_goes_once_with_one_click_unsubscribe_headers(member):
    consenting(member, "email")
    message = queue_one(member, points=50)
    assert send_now(message, now=NOON) == {"sent": 1}
    assert (message.status, message.sent_at) == (Status.SENT, NOON)
    [email] = mail.outbox
    assert email.to == [member.email]
    link = email.extra_headers["List-Unsubscribe"].strip("<>")
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith("http") and "/unsubscribe/" in link
    assert link in email.body and link in email.alternatives[0][0]
    # A second hand-over of the same claim, or a rerun, sends nothing more.
    assert delivery.send_batch(message_ids=[message.pk], claim=uuid.uuid4()) == {"skipped": 1}
    assert delivery.dispatch_due(now=NOON + timedelta(days=1)) == 0
    assert len(mail.outbox) == 1


def test_the_same_occasion_is_queued_once(member):
    first = Message(member=member, kind="birthday", occasion="birthday:2026:1",
                    channel="email", purpose="marketing")
    again = Message(member=member, kind="birthday", occasion="birthday:2026:1",
                    channel="email", purpose="marketing")
    assert delivery.queue([first], now=NOON) == 1
    assert delivery.queue([again], now=NOON) == 0
    assert Message.objects.count() == 1


def test_consent_is_checked_again_just_before_sending(member):
    consenting(member, "email")
    message = queue_one(member)
    members.set_consent(member_id=member.pk, channel="email", granted=False, source="test")
    assert send_now(message, now=NOON) == {"suppressed": 1}
    assert (message.status, message.reason) == (Status.SUPPRESSED, Reason.NO_CONSENT)
    assert mail.outbox == []


def test_a_service_message_needs_no_marketing_consent(member):
    message = queue_one(member, kind=Journey.Kind.POINTS_EXPIRING, points=10,
                        date="2026-12-01")
    assert message.purpose == "service"
    assert send_now(message, now=NOON) == {"sent": 1}


def test_at_most_two_marketing_messages_a_week_and_one_a_day(member):
    consenting(member, "email")
    outcomes = []
    for day, hour in ((0, 12), (0, 15), (2, 12), (4, 12)):
        at = NOON.replace(hour=hour) + timedelta(days=day)
        message = queue_one(member, occasion=f"test:{day}:{hour}", now=at)
        outcomes.append((send_now(message, now=at), message.reason))
    assert outcomes == [({"sent": 1}, ""), ({"suppressed": 1}, Reason.CAPPED),
                        ({"sent": 1}, ""), ({"suppressed": 1}, Reason.CAPPED)]
    eight_days_later = NOON + timedelta(days=8)
    message = queue_one(member, occasion="test:later", now=eight_days_later)
    assert send_now(message, now=eight_days_later) == {"sent": 1}


def test_a_marketing_message_in_the_quiet_hours_is_held_until_morning(member):
    consenting(member, "email")
    late = datetime(2026, 11, 27, 22, 30, tzinfo=PARIS)
    message = queue_one(member, now=late)
    assert send_now(message, now=late) == {"held": 1}
    morning = datetime(2026, 11, 28, 8, 0, tzinfo=PARIS)
    assert (message.status, message.next_attempt_at, message.reason) == (
        Status.QUEUED, morning, Reason.QUIET_HOURS)
    assert delivery.OUTBOX.claim_due(now=morning - timedelta(minutes=1))[0] == []
    assert send_now(message, now=morning) == {"sent": 1}
    assert len(mail.outbox) == 1


def test_an_erased_member_or_a_switched_off_journey_gets_nothing(member):
    consenting(member, "email")
    off = queue_one(member, occasion="off")
    Journey.objects.filter(kind=Journey.Kind.BIRTHDAY).update(active=False)
    assert send_now(off, now=NOON) == {"suppressed": 1}
    assert off.reason == Reason.JOURNEY_OFF
    Journey.objects.filter(kind=Journey.Kind.BIRTHDAY).update(active=True)
    erased = queue_one(member, occasion="erased")
    from loyalty.services.privacy import erase_member

    erase_member(member=member)
    assert send_now(erased, now=NOON) == {"suppressed": 1}
    assert erased.reason == Reason.ERASED


def test_sms_go_through_the_backend_and_need_a_phone(member, caplog):
    journey(channel="sms")
    consenting(member, "sms")
    no_phone = queue_one(member, occasion="sms:1")
    assert send_now(no_phone, now=NOON) == {"suppressed": 1}
    assert no_phone.reason == Reason.NO_ADDRESS
    member.phone = "+33612345678"
    member.save()
    message = queue_one(member, occasion="sms:2", now=NOON + timedelta(days=3))
    assert send_now(message, now=NOON + timedelta(days=3)) == {"sent": 1}
    assert "SMS to +33612345678" in caplog.text


def test_the_webhook_channel_hands_the_message_to_the_shops_tool(member, store):
    WebhookEndpoint.objects.create(store=store, url="https://shop.example.com/hooks",
                                   events=["message.requested"])
    journey(channel="webhook")
    consenting(member, "email")
    message = queue_one(member, points=5)
    assert send_now(message, now=NOON) == {"sent": 1}
    [request] = WebhookDelivery.objects.filter(event="message.requested")
    assert request.event_key == f"message:{message.pk}"
    assert f'"member_id":{member.pk}' in request.body and "unsubscribe" in request.body
    assert mail.outbox == []


def test_a_failing_channel_is_retried_then_failed(member, settings):
    settings.EMAIL_BACKEND = "tests.loyalty.services.test_messaging.BrokenBackend"
    consenting(member, "email")
    message = queue_one(member)
    assert send_now(message, now=NOON) == {"retrying": 1}
    assert (message.status, message.failures, message.next_attempt_at) == (
        Status.QUEUED, 1, NOON + timedelta(minutes=5))
    Message.objects.filter(pk=message.pk).update(failures=delivery.MAX_FAILURES - 1)
    later = NOON + timedelta(hours=3)
    assert send_now(message, now=later) == {"failed": 1}
    assert (message.status, message.reason) == (Status.FAILED, Reason.SEND_FAILED)


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP down")


def test_the_worker_task_sends_a_claimed_batch(member):
    consenting(member, "email")
    queue_one(member)
    ids, claim = delivery.OUTBOX.claim_due(now=NOON, limit=10)
    with time_machine.travel(NOON, tick=False):
        assert send_messages.apply(args=[ids, str(claim)]).get() == {"sent": 1}
        assert send_messages.apply(args=[ids, str(claim)]).get() == {"skipped": 1}
    assert len(mail.outbox) == 1 and send_messages.acks_late


# --- Unsubscribing ---------------------------------------------------------------------------


def test_one_click_unsubscribe_withdraws_consent_with_its_source(client, member):
    consenting(member, "email", "sms")
    path = unsubscribe.path_for(member_id=member.pk)
    page = client.get(path)
    assert page.status_code == 200
    member.refresh_from_db()
    assert member.email_marketing  # opening the link (a mail scanner) changes nothing
    done = client.post(path, {"List-Unsubscribe": "One-Click"})  # no CSRF token: RFC 8058
    assert done.status_code == 200
    member.refresh_from_db()
    assert (member.email_marketing, member.sms_marketing) == (False, False)
    sources = set(ConsentChange.objects.filter(member=member, granted=False)
                  .values_list("source", flat=True))
    assert sources == {unsubscribe.SOURCE}
    assert client.post(path).status_code == 200  # twice: still fine


def test_a_forged_unsubscribe_link_is_not_found(client, member):
    token = unsubscribe.token_for(member_id=member.pk)
    assert client.post(reverse("unsubscribe", args=[token[:-2] + "xx"])).status_code == 404
    assert client.get(reverse("unsubscribe", args=["nonsense"])).status_code == 404


def test_the_unsubscribe_page_is_translated(client, member):
    client.cookies["django_language"] = "fr"
    page = client.get(unsubscribe.path_for(member_id=member.pk), HTTP_ACCEPT_LANGUAGE="fr")
    assert "Se désabonner" in page.content.decode()


@pytest.fixture(autouse=True)
def _fixed_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    timezone.activate(PARIS)
    yield
    timezone.deactivate()


# --- Concurrent workers (PostgreSQL) ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_cannot_both_pass_a_members_daily_cap(member):
    from tests.concurrency import run_at_once

    consenting(member, "email")
    found = journey()
    # Written directly: queue() would wake the (eager) dispatcher on commit and send them.
    messages = [Message.objects.create(
        member=member, journey=found, kind=found.kind, occasion=f"race:{n}", channel="email",
        purpose="marketing", created_at=NOON, next_attempt_at=NOON) for n in range(4)]
    ids, claim = delivery.OUTBOX.claim_due(now=NOON, limit=10)
    assert sorted(ids) == sorted(m.pk for m in messages)
    with time_machine.travel(NOON, tick=False):
        outcomes = run_at_once(4, lambda n: delivery.attempt(message_id=ids[n], claim=claim))
    assert sorted(outcomes) == ["sent", "suppressed", "suppressed", "suppressed"]
    assert Message.objects.filter(status=Status.SENT).count() == 1
    assert set(Message.objects.filter(status=Status.SUPPRESSED)
               .values_list("reason", flat=True)) == {Reason.CAPPED}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_never_claim_the_same_message(member):
    from tests.concurrency import run_at_once

    for n in range(300):
        Message.objects.create(member=member, kind="welcome", occasion=f"bulk:{n}",
                               channel="email", purpose="service", created_at=NOON,
                               next_attempt_at=NOON)
    claims = run_at_once(3, lambda n: delivery.OUTBOX.claim_due(now=NOON, limit=120)[0])
    claimed = [pk for ids in claims for pk in ids]
    assert len(claimed) == len(set(claimed)) == 300
