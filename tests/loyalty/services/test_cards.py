import time

import pytest
from django.test import override_settings

from loyalty.models import Card
from loyalty.services import cards, members
from loyalty.services.errors import CardBlocked, Invalid, NotFound, TokenExpired, TokenInvalid
from tests.factories import make_member

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


# --- versions, blocked cards, cards at the till ----------------------------------------------


@pytest.mark.parametrize("version", ["0", "2", "", "1a"])
def test_a_token_of_another_version_is_invalid_even_when_correctly_signed(member, version):
    card = digital_card(member)
    card_id, step = cards.base36(card.pk), cards.base36(cards.current_step())
    token = f"LC{version}.{card_id}.{step}.{cards._signature(version, card_id, step)}"
    with pytest.raises(TokenInvalid) as error:
        cards.resolve_card(token)
    assert error.value.code == "token_invalid"


def test_a_token_is_signed_over_its_version(member):
    token = cards.make_token(digital_card(member))
    _prefix, card_id, step, signature = token.split(".")
    assert signature == cards._signature(cards.TOKEN_VERSION, card_id, step)
    assert signature != cards._signature("2", card_id, step)


def test_a_blocked_digital_card_refuses_its_fresh_tokens(member):
    card = digital_card(member)
    token = cards.make_token(card)
    cards.block_card(card_id=card.pk)
    with pytest.raises(CardBlocked) as error:
        cards.resolve_card(token)
    assert error.value.code == "card_blocked"


def test_blocking_twice_keeps_the_first_time(member):
    card = cards.issue_card(member_id=member.pk)
    first = cards.block_card(card_id=card.pk).blocked_at
    assert cards.block_card(card_id=card.pk).blocked_at == first


def test_a_till_blocks_only_a_card_of_the_member_it_shows(member):
    other = make_member(email="other@example.com")
    theirs = cards.issue_card(member_id=other.pk)
    with pytest.raises(NotFound):
        cards.block_member_card(card_id=theirs.pk, member_id=member.pk)
    theirs.refresh_from_db()
    assert theirs.status == Card.Status.ACTIVE
    assert cards.block_member_card(card_id=theirs.pk, member_id=other.pk).status == "blocked"


def test_the_card_shown_is_the_digital_one_while_it_is_active(member):
    digital = digital_card(member)
    assert cards.card_to_show(member) == digital
    plastic = cards.issue_card(member_id=member.pk)
    assert cards.card_to_show(member) == digital
    cards.block_card(card_id=digital.pk)
    assert cards.card_to_show(member) == plastic
    cards.block_card(card_id=plastic.pk)
    assert cards.card_to_show(member) is None


def number(body="400000001"):
    return body + cards.luhn_digit(body)


def test_a_card_at_the_till_goes_to_the_member_with_that_email_or_phone(member, store):
    issued = members.issue_card_at_till(store=store, number=number(), email=" MARIE@example.com")
    assert issued.member == member and not issued.new_member
    assert issued.card.kind == Card.Kind.PHYSICAL and issued.card.issued_by_store == store
    member_with_phone = make_member(email="p@example.com", phone="+33611111111")
    again = members.issue_card_at_till(store=store, phone="06 11 11 11 11")
    assert again.member == member_with_phone and cards.is_valid_card_number(again.card.number)
    assert member_with_phone.cards.count() == 2


def test_a_card_at_the_till_enrols_a_new_customer(db, store):
    issued = members.issue_card_at_till(store=store, email="new@example.com", first_name="Ada")
    assert issued.new_member and issued.member.first_name == "Ada"
    assert cards.resolve_card(issued.card.number).member == issued.member
    assert cards.resolve_card(issued.member.card_number).member == issued.member


def test_a_refused_card_at_the_till_enrols_nobody(member, store):
    from loyalty.models import Member

    cards.issue_card(member_id=member.pk, number=number())
    count = Member.objects.count()
    with pytest.raises(Invalid):
        members.issue_card_at_till(store=store, number=number(), email="new@example.com")
    with pytest.raises(Invalid):
        members.issue_card_at_till(store=store, number="4000000011", email="new@example.com")
    with pytest.raises(Invalid):
        members.issue_card_at_till(store=store, first_name="No identity")
    assert Member.objects.count() == count


def test_a_card_at_the_till_refuses_an_email_and_a_phone_of_two_members(member, store):
    make_member(email="p@example.com", phone="+33622222222")
    with pytest.raises(Invalid) as error:
        members.issue_card_at_till(store=store, email="marie@example.com", phone="+33622222222")
    assert "phone" in error.value.fields
