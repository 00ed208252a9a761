"""Card numbers and the signed, short-lived tokens shown as QR codes.

A card number is 9 random digits and a Luhn check digit: short enough to
type, and a slip of one digit (or two swapped) is caught as garbled instead of
matching somebody else's card.

A QR token is `LC1.<card id>.<time step>.<signature>`: an HMAC-SHA256 with a
key derived from SECRET_KEY, over the version, card id and time step. The
step is 30 seconds; a token is accepted for its own step and the next one,
so a screenshot stops working within a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from loyalty.models import Card, Member
from loyalty.services.errors import CardBlocked, Invalid, NotFound, TokenExpired, TokenInvalid

TOKEN_VERSION = "1"  # noqa: S105 - a format version, not a secret
TOKEN_PREFIX = f"LC{TOKEN_VERSION}"
TOKEN_STEP_SECONDS = 30
TOKEN_ACCEPTED_STEPS = 2  # the current step and the one before
CARD_NUMBER_DIGITS = 9


def luhn_digit(digits: str) -> str:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_card_number(number: str) -> bool:
    return (number.isascii() and number.isdigit() and len(number) == CARD_NUMBER_DIGITS + 1
            and luhn_digit(number[:-1]) == number[-1])


def normalise_card_number(value: str) -> str:
    return "".join(ch for ch in str(value) if ch not in " -.")


def new_card_number() -> str:
    """A fresh, unused number. Collisions are rare (1 in 10^9) and retried."""
    for _attempt in range(20):
        body = str(secrets.randbelow(9 * 10 ** (CARD_NUMBER_DIGITS - 1))
                   + 10 ** (CARD_NUMBER_DIGITS - 1))
        number = body + luhn_digit(body)
        if not Card.objects.filter(number=number).exists():
            return number
    raise RuntimeError("Could not find a free card number.")  # pragma: no cover


def _key() -> bytes:
    return hashlib.sha256(b"loyalty.card-token:" + settings.SECRET_KEY.encode()).digest()


def base36(value: int) -> str:
    """A non-negative integer in base 36 (the short form of the signed tokens' numbers)."""
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rem = divmod(value, 36)
        out = chars[rem] + out
        if value == 0:
            return out


def _signature(version: str, card_id: str, step: str) -> str:
    mac = hmac.new(_key(), f"{version}.{card_id}.{step}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:12]).decode().rstrip("=")


def current_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // TOKEN_STEP_SECONDS)


def make_token(card: Card, *, at: float | None = None) -> str:
    step = base36(current_step(at))
    card_id = base36(card.pk)
    return f"{TOKEN_PREFIX}.{card_id}.{step}.{_signature(TOKEN_VERSION, card_id, step)}"


def token_seconds_left(*, at: float | None = None) -> int:
    now = time.time() if at is None else at
    return int(TOKEN_STEP_SECONDS - (now % TOKEN_STEP_SECONDS))


def verify_token(token: str, *, at: float | None = None) -> int:
    """The card id in a token. Raises TokenInvalid (forged, garbled) or TokenExpired."""
    parts = token.split(".")
    if not token.isascii() or len(parts) != 4 or not parts[0].startswith("LC"):
        raise TokenInvalid()
    prefix, card_id, step, signature = parts
    version = prefix[2:]
    if version != TOKEN_VERSION:
        raise TokenInvalid(fields={"token": "unsupported version"})
    if not hmac.compare_digest(signature, _signature(version, card_id, step)):
        raise TokenInvalid()
    try:
        step_value, card_value = int(step, 36), int(card_id, 36)
    except ValueError:  # pragma: no cover - a valid signature over garbage is not possible
        raise TokenInvalid() from None
    age = current_step(at) - step_value
    if age >= TOKEN_ACCEPTED_STEPS:
        raise TokenExpired()
    if age < -1:  # from the future: a clock far off, or a forged step
        raise TokenInvalid()
    return card_value


def resolve_card(value: str, *, at: float | None = None) -> Card:
    """The active card behind a scanned token or a typed card number."""
    value = (value or "").strip()
    if not value or len(value) > 200:
        raise TokenInvalid()
    if value.upper().startswith("LC"):
        card_id = verify_token(value, at=at)
        card = Card.objects.select_related("member").filter(pk=card_id).first()
        if card is None:
            raise TokenInvalid()
    else:
        number = normalise_card_number(value)
        if not is_valid_card_number(number):
            raise TokenInvalid(fields={"card_number": "not a valid card number"})
        card = Card.objects.select_related("member").filter(number=number).first()
        if card is None:
            raise NotFound(fields={"card_number": number})
    if card.status == Card.Status.BLOCKED:
        raise CardBlocked()
    return card


def issue_card(*, member_id: int, number: str | None = None, kind: str = Card.Kind.PHYSICAL,
               store=None) -> Card:
    """Link a (plastic) card to a member. A pre-printed number must pass its check digit."""
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member_id)
        if number is not None:
            number = normalise_card_number(number)
            if not is_valid_card_number(number):
                raise Invalid(fields={"number": "not a valid card number"})
            if Card.objects.filter(number=number).exists():
                raise Invalid(fields={"number": "this card is already in use"})
        return Card.objects.create(member=member, number=number or new_card_number(), kind=kind,
                                   issued_by_store=store)


def block_card(*, card_id: int) -> Card:
    with transaction.atomic():
        card = Card.objects.select_for_update().get(pk=card_id)
        if card.status != Card.Status.BLOCKED:
            card.status = Card.Status.BLOCKED
            card.blocked_at = timezone.now()
            card.save(update_fields=["status", "blocked_at"])
        return card


def block_member_card(*, card_id: int, member_id: int) -> Card:
    """Block a lost card of this member. NotFound if the card is not theirs, so that a
    till can only block a card of the member it is looking at.

    A member enrolled at the till holds one card, the plastic one, whose number is
    theirs: when it is lost and no other card is active, a digital card is drawn and
    its number becomes the member's, so that their phone still shows a card.
    """
    if not Card.objects.filter(pk=card_id, member_id=member_id).exists():
        raise NotFound(fields={"card_id": card_id})
    with transaction.atomic():
        card = block_card(card_id=card_id)
        member = Member.objects.select_for_update().get(pk=member_id)
        if not Card.objects.filter(member=member, status=Card.Status.ACTIVE).exists():
            replacement = Card.objects.create(member=member, number=new_card_number(),
                                              kind=Card.Kind.DIGITAL)
            member.card_number = replacement.number
            member.save(update_fields=["card_number", "updated_at"])
        return card


def card_to_show(member: Member) -> Card | None:
    """The card whose QR the member's phone shows: their digital card while it is active,
    otherwise their newest active card."""
    cards = Card.objects.filter(member=member, status=Card.Status.ACTIVE)
    return (cards.filter(number=member.card_number).first()
            or cards.filter(kind=Card.Kind.DIGITAL).first() or cards.first())
