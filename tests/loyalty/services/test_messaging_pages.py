"""What the messages pages read and do: the journeys' figures, a member's log, a journey's
settings and texts, its preview and test."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.test import override_settings

from loyalty.models import Journey, Message, Purchase
from loyalty.services.errors import Invalid, NotFound
from loyalty.services.messaging import figures, journey_settings, member_log
from tests.factories import StoreFactory, TierFactory, UserFactory, make_member

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=PARIS)
Kind, Status, Reason = Journey.Kind, Message.Status, Message.Reason


def message(member, kind=Kind.BIRTHDAY, *, status=Status.SENT, reason="", at=NOW, sent_at=None,
            **context):
    message.counter = getattr(message, "counter", 0) + 1
    journey = Journey.objects.get(kind=kind)
    return Message.objects.create(
        member=member, journey=journey, kind=kind, occasion=f"{kind}:test:{message.counter}",
        channel=journey.channel, purpose=journey.purpose, context=context, status=status,
        reason=reason, created_at=at,
        sent_at=(sent_at or at) if status == Status.SENT else None)


def purchase(member, at, store=None):
    purchase.counter = getattr(purchase, "counter", 0) + 1
    return Purchase.objects.create(
        store=store or StoreFactory(code=f"s{purchase.counter}"), member=member,
        order_id=f"o{purchase.counter}", amount=Decimal("10.00"), occurred_at=at,
        created_at=at, fingerprint="x")


def by_kind(rows):
    return {row.journey.kind: row for row in rows}


# --- figures -----------------------------------------------------------------------------------


def test_figures_count_each_status_and_reason_of_the_window():
    a, b, c = make_member(), make_member(), make_member()
    message(a)
    message(b)
    message(c, status=Status.SUPPRESSED, reason=Reason.NO_CONSENT)
    message(c, status=Status.SUPPRESSED, reason=Reason.NO_CONSENT)
    message(a, status=Status.SUPPRESSED, reason=Reason.CAPPED)
    message(b, status=Status.FAILED, reason=Reason.SEND_FAILED)
    message(a, status=Status.QUEUED)
    message(b, status=Status.QUEUED, reason=Reason.QUIET_HOURS)
    message(a, at=NOW - timedelta(days=31))  # before the window
    message(a, Kind.WELCOME)

    rows = by_kind(figures.journey_figures(now=NOW))

    birthday = rows[Kind.BIRTHDAY]
    assert (birthday.sent, birthday.failed, birthday.queued, birthday.held) == (2, 1, 2, 1)
    assert [(item.reason, item.count) for item in birthday.suppressed] == [
        (Reason.NO_CONSENT, 2), (Reason.CAPPED, 1)]
    assert birthday.suppressed_total == 3
    assert rows[Kind.WELCOME].sent == 1
    assert rows[Kind.WIN_BACK].sent == 0 and rows[Kind.WIN_BACK].conversion is None
    assert set(rows) == set(Kind.values)  # every journey, active or not


def test_conversion_is_the_share_of_members_sent_who_bought_within_seven_days():
    bought, late, before, twice, never = (make_member() for _ in range(5))
    sent_at = NOW - timedelta(days=20)
    for member in (bought, late, before, never):
        message(member, at=sent_at)
    message(twice, at=sent_at)
    message(twice, at=sent_at + timedelta(days=1))
    purchase(bought, sent_at + timedelta(days=6, hours=23))
    purchase(late, sent_at + timedelta(days=7, minutes=1))
    purchase(before, sent_at - timedelta(minutes=1))
    purchase(twice, sent_at + timedelta(days=2))  # after both of its messages: counted once
    # A member not sent a message (only suppressed) who bought is no conversion.
    held = make_member()
    message(held, status=Status.SUPPRESSED, reason=Reason.NO_CONSENT, at=sent_at)
    purchase(held, sent_at + timedelta(days=1))

    row = by_kind(figures.journey_figures(now=NOW))[Kind.BIRTHDAY]

    assert (row.members_sent, row.members_converted) == (5, 2)
    assert row.conversion == Decimal("40.0")


def test_figures_cost_the_same_queries_however_many_messages(django_assert_max_num_queries):
    members = [make_member() for _ in range(3)]
    for index, member in enumerate(members * 5):
        message(member, list(Kind)[index % 4], at=NOW - timedelta(days=index % 20))
        purchase(member, NOW - timedelta(days=index % 20, hours=-3))
    with django_assert_max_num_queries(2):
        rows = figures.journey_figures(now=NOW)
    assert sum(row.sent for row in rows) == 15


# --- a member's log ------------------------------------------------------------------------


def test_a_members_log_shows_their_sent_messages_in_their_language_and_counts_held_back():
    Journey.objects.filter(kind=Kind.POINTS_EXPIRING).update(
        subject="{{ points }} points expire on {{ date }}",
        subject_fr="{{ points }} points expirent le {{ date }}")
    marie = make_member(first_name="Marie", language="fr")
    other = make_member(first_name="Pierre")
    message(marie, Kind.POINTS_EXPIRING, points=1234, date="2026-12-01")
    message(marie, status=Status.SUPPRESSED, reason=Reason.NO_CONSENT)
    message(marie, status=Status.SUPPRESSED, reason=Reason.CAPPED)
    message(marie, status=Status.QUEUED)
    message(other)

    log = member_log.member_log(member=marie)

    assert len(log.messages) == 1
    subject = log.messages[0].subject.replace("\u202f", " ").replace("\xa0", " ")
    assert subject == "1 234 points expirent le 1 déc. 2026"
    assert log.held_back == 1


# --- a journey's settings ------------------------------------------------------------------


def test_update_journey_saves_the_settings_and_logs_who_changed_them():
    manager = UserFactory(email="boss@example.com")
    journey = journey_settings.update_journey(
        kind=Kind.BIRTHDAY, by=manager, active=True, purpose="service",
        subject="Bon anniversaire {{ first_name }}", body="{{points}} points: {{ link }}")
    journey.refresh_from_db()
    assert (journey.active, journey.purpose, journey.body) == (
        True, "service", "{{points}} points: {{ link }}")
    entry = LogEntry.objects.get(user=manager)
    assert entry.object_id == str(journey.pk)


@pytest.mark.parametrize("text", [
    "{{ settings.SECRET_KEY }}", "{{ member.email }}", "Hi {{ firstname }}",
    "{% load static %}", "{{ first_name", "{{ first_name.upper }}", "{# note #}", "{{ }}"])
def test_update_journey_refuses_anything_but_the_variables(text):
    with pytest.raises(Invalid) as caught:
        journey_settings.update_journey(kind=Kind.BIRTHDAY, by=None, active=True, body_fr=text)
    assert set(caught.value.fields) == {"body_fr"}
    assert "{{ first_name }}" in caught.value.fields["body_fr"]  # the allowed ones, listed
    journey = Journey.objects.get(kind=Kind.BIRTHDAY)
    assert (journey.active, journey.body_fr) == (False, "")  # nothing half written


def test_update_journey_refuses_an_unknown_field_or_journey_or_a_bad_value():
    with pytest.raises(Invalid):
        journey_settings.update_journey(kind=Kind.BIRTHDAY, by=None, kind_label="x")
    with pytest.raises(NotFound):
        journey_settings.update_journey(kind="nope", by=None, active=True)
    with pytest.raises(Invalid) as caught:
        journey_settings.update_journey(kind=Kind.BIRTHDAY, by=None, channel="pigeon")
    assert "channel" in caught.value.fields


# --- preview and test ----------------------------------------------------------------------


@override_settings(SECRET_KEY="the-secret-key-of-the-site-0123456789-abcdefghij")
def test_the_preview_renders_a_real_member_in_their_language_and_reaches_no_settings():
    tier = TierFactory(name="Or")
    marie = make_member(first_name="Marie", language="fr")
    marie.tier = tier
    marie.save()
    draft = {"subject_fr": "Niveau {{ tier }}",
             "body_fr": "{{ first_name }} [{{ settings.SECRET_KEY }}] {{ member.email }}"}

    rendered = journey_settings.preview(kind=Kind.TIER_REACHED, member=marie, draft=draft,
                                        now=NOW)

    assert rendered.language == "fr"
    assert rendered.subject == "Niveau Or"
    assert rendered.text == "Marie []"
    assert "unsubscribe" not in rendered.unsubscribe_url  # never the member's one-click link
    assert Journey.objects.get(kind=Kind.TIER_REACHED).body_fr == ""  # the draft is not saved
    assert Message.objects.count() == 0


def test_the_preview_without_a_member_uses_a_sample_in_the_language_asked():
    Journey.objects.filter(kind=Kind.BIRTHDAY).update(subject_fr="Bon anniversaire !")
    english = journey_settings.preview(kind=Kind.BIRTHDAY, language="en", now=NOW)
    french = journey_settings.preview(kind=Kind.BIRTHDAY, language="fr", now=NOW)
    assert english.subject == "Happy birthday, Camille!"
    assert (french.language, french.subject) == ("fr", "Bon anniversaire !")


def test_a_test_goes_to_the_staff_users_own_address_only():
    manager = UserFactory(email="boss@example.com")
    marie = make_member(first_name="Marie", email="marie@example.com", language="fr")
    rendered = journey_settings.send_test(kind=Kind.WELCOME, to_user=manager, member=marie,
                                          draft={"subject_fr": "Coucou {{ first_name }}"})
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["boss@example.com"] and not sent.cc and not sent.bcc
    assert "Coucou Marie" in sent.subject and sent.subject.startswith("[")
    assert rendered.unsubscribe_url not in ("", None)
    assert "/unsubscribe" not in sent.body
    assert Message.objects.count() == 0


def test_a_test_refuses_unknown_variables_and_a_user_without_address():
    with pytest.raises(Invalid):
        journey_settings.send_test(kind=Kind.WELCOME, to_user=UserFactory(email="a@example.com"),
                                   draft={"body": "{{ settings.DEBUG }}"})
    with pytest.raises(Invalid):
        journey_settings.send_test(kind=Kind.WELCOME, to_user=UserFactory(email=""))
    assert mail.outbox == []
