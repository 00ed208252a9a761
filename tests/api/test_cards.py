"""POST /cards/resolve/: a scanned QR token or a typed card number."""

import time

import pytest

from loyalty.models import Card
from loyalty.services import cards
from tests.api.conftest import assert_error, is_points
from tests.factories import TierFactory

RESOLVE = "/api/v1/cards/resolve/"


@pytest.fixture
def card(member):
    return Card.objects.get(number=member.card_number)


def resolve(client, token):
    return client.post(RESOLVE, {"token": token}, format="json")


def test_a_fresh_qr_token_resolves_to_the_member(client_web, member, card, web):
    from loyalty.services import purchases

    purchases.record_purchase(store=web, order_id="A1", amount="12.00", member=member)
    response = resolve(client_web, cards.make_token(card))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert {"member_id", "card_number", "first_name", "tier", "balance"} <= set(body)
    assert body["member_id"] == member.pk
    assert body["card_number"] == member.card_number
    assert body["first_name"] == "Marie"
    assert body["tier"] is None
    assert is_points(body["balance"]) and body["balance"] == 12


def test_a_member_tier_is_shown_with_its_code_and_name(client_web, member, card):
    member.tier = TierFactory(code="gold", name="Gold", rank=2)
    member.save()
    assert resolve(client_web, card.number).json()["tier"] == {"code": "gold", "name": "Gold"}


def test_a_token_of_the_previous_step_is_still_accepted(client_web, card):
    token = cards.make_token(card, at=time.time() - cards.TOKEN_STEP_SECONDS)
    assert resolve(client_web, token).status_code == 200


@pytest.mark.parametrize("typed", ["{n}", " {n} ", "{a} {b} {c}", "{a}-{b}-{c}"])
def test_a_typed_card_number_resolves(client_web, member, card, typed):
    n = card.number
    value = typed.format(n=n, a=n[:3], b=n[3:6], c=n[6:])
    assert resolve(client_web, value).json()["member_id"] == member.pk


def test_an_expired_token_is_409_token_expired(client_web, card):
    token = cards.make_token(card, at=time.time() - 5 * cards.TOKEN_STEP_SECONDS)
    assert_error(resolve(client_web, token), 409, "token_expired")


@pytest.mark.parametrize("forge", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # a forged signature
    lambda t: t.replace("LC1.", "LC2."),  # a version we do not know
    lambda t: t.rsplit(".", 1)[0],  # a part missing
    lambda t: "LC1.zz.zz.zz",
    lambda t: "LC",
    lambda t: "hello",
    lambda t: "1234",
])
def test_a_forged_or_garbled_token_is_400_token_invalid(client_web, card, forge):
    assert_error(resolve(client_web, forge(cards.make_token(card))), 400, "token_invalid")


def test_a_token_for_a_card_moved_to_another_id_is_invalid(client_web, card):
    token = cards.make_token(card)
    prefix, card_id, step, signature = token.split(".")
    forged = ".".join([prefix, cards.base36(card.pk + 1), step, signature])
    assert_error(resolve(client_web, forged), 400, "token_invalid")


def test_a_card_number_with_a_wrong_check_digit_is_400_token_invalid(client_web, card):
    garbled = card.number[:-1] + str((int(card.number[-1]) + 1) % 10)
    assert_error(resolve(client_web, garbled), 400, "token_invalid")


def test_an_unknown_card_number_is_404(client_web, card):
    body = "987654321"
    number = body + cards.luhn_digit(body)
    assert number != card.number
    assert_error(resolve(client_web, number), 404, "not_found")


def test_a_blocked_card_is_409_card_blocked(client_web, card):
    cards.block_card(card_id=card.pk)
    assert_error(resolve(client_web, card.number), 409, "card_blocked")
    assert_error(resolve(client_web, cards.make_token(card)), 409, "card_blocked")


@pytest.mark.parametrize("payload", [{}, {"token": ""}, {"token": "   "}, {"token": None},
                                     {"token": "x" * 201}])
def test_a_missing_or_empty_token_is_400(client_web, card, payload):
    response = client_web.post(RESOLVE, payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid", "token_invalid")


def scan(client, endpoint, value):
    """Send a scanned value to /cards/resolve/ or with a purchase."""
    if endpoint == "resolve":
        return resolve(client, value)
    field = "card_token" if value.startswith("LC") else "card_number"
    return client.post("/api/v1/purchases/", {"order_id": "W-1", "amount": "1.00",
                                              field: value}, format="json")


@pytest.mark.parametrize("endpoint", ["resolve", "purchase"])
def test_a_token_with_non_ascii_characters_is_400_not_500(api_client, card, endpoint):
    client = api_client(raise_request_exception=False)
    assert_error(scan(client, endpoint, "LC1.1.1.é"), 400, "token_invalid")


@pytest.mark.parametrize("endpoint", ["resolve", "purchase"])
def test_a_card_number_of_unicode_digits_is_400_not_500(api_client, card, endpoint):
    client = api_client(raise_request_exception=False)
    assert_error(scan(client, endpoint, "²" * 10), 400, "token_invalid")
