"""The customer's digital card page (/card/) and its token refresh (/card/token.json)."""

import base64
import re

import pytest
from django.urls import reverse

from loyalty.models import Card
from loyalty.services import cards
from tests.factories import UserFactory, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def marie(db):
    user = UserFactory(email="marie@example.com")
    return make_member(first_name="Marie", last_name="Curie", email="marie@example.com",
                       user=user)


@pytest.fixture
def marie_client(client, marie):
    client.force_login(marie.user)
    return client


def svg_of(data_uri: str) -> str:
    prefix = "data:image/svg+xml;base64,"
    assert data_uri.startswith(prefix)
    return base64.b64decode(data_uri[len(prefix):]).decode()


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get(reverse("card"))
    assert response.status_code == 302 and response["Location"].startswith(
        reverse("account_login"))
    assert client.get(reverse("card-token")).status_code == 401


def test_the_card_shows_name_tier_balance_qr_and_number(marie_client, marie):
    response = marie_client.get(reverse("card"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    content = response.content.decode()
    assert "Marie Curie" in content and "Points" in content and "Tier" in content
    token = re.search(r'data-token="([^"]+)"', content).group(1)
    assert cards.resolve_card(token).member == marie
    qr = re.search(r'src="(data:image/svg\+xml;base64,[^"]+)"', content).group(1)
    svg = svg_of(qr)
    assert svg.startswith("<svg") and "<script" not in svg and "style=" not in svg
    number = marie.card_number
    assert f"{number[:3]} {number[3:6]} {number[6:]}" in content
    assert "<script" in content and 'type="module"' in content and "style=" not in content


def test_the_token_endpoint_gives_a_fresh_token_of_the_members_own_card(marie_client, marie):
    make_member(email="other@example.com")
    response = marie_client.get(reverse("card-token"))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {"token", "qr", "seconds_left", "step_seconds", "valid_seconds"}
    assert cards.resolve_card(body["token"]).member == marie
    assert 0 < body["seconds_left"] <= body["step_seconds"] == cards.TOKEN_STEP_SECONDS
    assert body["valid_seconds"] == body["seconds_left"] + cards.TOKEN_STEP_SECONDS
    assert svg_of(body["qr"]).startswith("<svg")


def test_a_login_without_a_membership_is_told_so(client):
    client.force_login(UserFactory(email="nobody@example.com"))
    assert "not linked to a loyalty membership" in client.get(reverse("card")).content.decode()
    assert client.get(reverse("card-token")).status_code == 404


def test_a_blocked_digital_card_is_not_shown(marie_client, marie):
    cards.block_card(card_id=Card.objects.get(number=marie.card_number).pk)
    content = marie_client.get(reverse("card")).content.decode()
    assert "Your card is blocked" in content and "data-token" not in content
    plastic = cards.issue_card(member_id=marie.pk)
    content = marie_client.get(reverse("card")).content.decode()
    token = re.search(r'data-token="([^"]+)"', content).group(1)
    assert cards.resolve_card(token) == plastic


@pytest.mark.parametrize("offset, seconds_left", [(0.0, 30), (0.2, 30), (27.2, 3),
                                                   (29.999, 1)])
def test_the_next_refresh_is_due_just_after_the_step_turns(marie, offset, seconds_left):
    from loyalty.portal.card import token_payload

    start = cards.current_step() * cards.TOKEN_STEP_SECONDS
    card = Card.objects.get(number=marie.card_number)
    payload = token_payload(card, at=start + offset)
    assert payload["seconds_left"] == seconds_left
    assert payload["token"] == cards.make_token(card, at=start + offset)
    # Asked again when it says, the page gets the next step's token.
    assert token_payload(card, at=start + offset + seconds_left)["token"] != payload["token"]
