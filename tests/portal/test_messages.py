"""A member's own messages on their profile, beside their consents."""

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Journey, Message
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db


def message(member, *, status="sent", reason="", kind="tier_reached", **context):
    message.counter = getattr(message, "counter", 0) + 1
    now = timezone.now()
    return Message.objects.create(
        member=member, journey=Journey.objects.get(kind=kind), kind=kind,
        occasion=f"{kind}:p:{message.counter}", channel="email", purpose="marketing",
        status=status, reason=reason, context=context, created_at=now,
        sent_at=now if status == "sent" else None)


def test_the_profile_shows_the_members_own_sent_messages_and_the_held_back_count(
        marie_client, marie, other):
    Journey.objects.filter(kind="tier_reached").update(
        subject="Well done {{ first_name }}", subject_fr="Bravo {{ first_name }}")
    message(marie)
    message(marie, status="suppressed", reason="no_consent")
    message(marie, status="suppressed", reason="no_consent")
    message(marie, status="suppressed", reason="capped")
    message(marie, status="queued")
    message(other)

    text = page_text(marie_client.get(reverse("profile")))

    assert "Your messages" in text
    assert text.count("Well done Marie") == 1
    assert "Pierre" not in text
    assert "2 offers were not sent to you because you had not agreed" in text
    assert "Offers by email: no." in text and "Change my choices" in text


def test_the_profile_renders_the_messages_in_french(marie_client, marie):
    marie.language = "fr"
    marie.save()
    Journey.objects.filter(kind="tier_reached").update(
        subject="Well done {{ first_name }}", subject_fr="Bravo {{ first_name }}")
    message(marie)
    marie_client.cookies["django_language"] = "fr"
    response = marie_client.get(reverse("profile"))
    text = page_text(response)
    assert "Bravo Marie" in text and "Well done" not in text
    assert "Enregistrer" in text  # the page itself is in French
    assert "style=" not in response.content.decode()


def test_a_member_without_messages_is_told_so(marie_client):
    assert "We have not sent you any message yet." in page_text(
        marie_client.get(reverse("profile")))
