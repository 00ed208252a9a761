import time

import pytest
from django.test import override_settings

from loyalty.models import Card
from loyalty.services import cards
from loyalty.services.errors import CardBlocked, Invalid, NotFound, TokenExpired, TokenInvalid

pytestmark = pytest.mark.django_db


def digital_card(member):
    return Card.objects.get(member=member, kind="digital")


def test_a_fresh_token_resolves_to_the_card(member):
    card = digital_card(member)
    assert cards.resolve_card(cards.make_token(card)) == card


def test_a_token_is_accepted_for_about_a_minute_then_expires(member):
    card = digital_card(member)
    now = time.time()
    token = cards.make_token(card, at=now)
    assert cards.resolve_card(token, at=now + cards.TOKEN_STEP_SECONDS) == card
    with pytest.raises(TokenExpired) as error:
        cards.resolve_card(token, at=now + 2 * cards.TOKEN_STEP_SECONDS)
    assert error.value.code == "token_expired"


def test_the_token_changes_every_step(member):
    card = digital_card(member)
    now = time.time()
    assert cards.make_token(card, at=now) != cards.make_token(
        card, at=now + cards.TOKEN_STEP_SECONDS)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),   # signature
    lambda t: t.replace("LC1.", "LC1.1"),                          # another card id
    lambda t: t.replace("LC1.", "LC2."),                           # another version
    lambda t: t + ".extra",
    lambda t: "LC1...",
])
def test_a_tampered_token_is_invalid(member, mangle):
    with pytest.raises(TokenInvalid) as error:
        cards.resolve_card(mangle(cards.make_token(digital_card(member))))
    assert error.value.code == "token_invalid"


def test_a_token_signed_with_another_secret_is_invalid(member):
    card = digital_card(member)
    with override_settings(SECRET_KEY="another-secret-key-" * 3):
        token = cards.make_token(card)
    with pytest.raises(TokenInvalid):
        cards.resolve_card(token)


def test_a_token_from_the_future_is_invalid(member):
    token = cards.make_token(digital_card(member), at=time.time() + 600)
    with pytest.raises(TokenInvalid):
        cards.resolve_card(token)


def test_card_numbers_are_checked_before_they_are_looked_up(member):
    number = member.card_number
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    assert cards.resolve_card(spaced).member == member
    slip = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(TokenInvalid):
        cards.resolve_card(slip)
    unknown = "123456789"
    with pytest.raises(NotFound):
        cards.resolve_card(unknown + cards.luhn_digit(unknown))


def test_a_blocked_card_is_refused_with_its_own_code(member):
    card = cards.issue_card(member_id=member.pk)
    cards.block_card(card_id=card.pk)
    with pytest.raises(CardBlocked) as error:
        cards.resolve_card(card.number)
    assert error.value.status == 409
    with pytest.raises(CardBlocked):
        cards.resolve_card(cards.make_token(card))
    assert cards.resolve_card(member.card_number).member == member


def test_issuing_a_preprinted_card_checks_its_number(member):
    body = "987654321"
    card = cards.issue_card(member_id=member.pk, number=body + cards.luhn_digit(body))
    assert card.kind == "physical" and card.member == member
    with pytest.raises(Invalid):
        cards.issue_card(member_id=member.pk, number=card.number)
    with pytest.raises(Invalid):
        cards.issue_card(member_id=member.pk, number="9876543210")


@pytest.mark.parametrize("value", ["", "   ", "x" * 300, "LC", "hello", "12"])
def test_garbage_is_invalid(db, value):
    with pytest.raises(TokenInvalid):
        cards.resolve_card(value)
