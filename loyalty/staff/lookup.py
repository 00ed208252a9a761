"""What a cashier scanned or typed: a card's QR, a card number, a voucher, an email, a phone.

One field takes them all, so the order of the checks is the rule: a signed
card token (`LC...`), then an email (has an @), then a card number (ten digits
passing the check digit, on a card we know), then a voucher code (ten symbols
passing their check character), then a phone number. Read-only: nothing here
writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.postgres.search import TrigramWordSimilarity
from django.db import connection
from django.db.models import CharField, Q
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from loyalty import selectors
from loyalty.models import Card, Member
from loyalty.names import NAME_EXPRESSION, fold
from loyalty.services import cards, members
from loyalty.services.errors import CardBlocked, Invalid, NotFound
from rewards import codes
from rewards.models import Voucher

MAX_LENGTH = 200
PHONE_CHARACTERS = re.compile(r"^\+?[\d\s().-]{6,30}$")


@dataclass(frozen=True)
class TillMatch:
    member: Member
    card: Card | None = None
    voucher: Voucher | None = None


def _active(member_id: int) -> Member:
    member = selectors.active_member(member_id)
    if member is None:
        raise NotFound(_("This customer's membership is closed."))
    return member


def _card(card: Card) -> TillMatch:
    if card.status == Card.Status.BLOCKED:
        raise CardBlocked(_("This card is blocked: it was reported lost. Ask for another card "
                            "or look the customer up by email or phone."))
    return TillMatch(member=_active(card.member_id), card=card)


def find_at_till(value: str) -> TillMatch:
    """The member behind what was scanned or typed.

    Raises TokenInvalid, TokenExpired, CardBlocked (from the card token), Invalid
    (an email that is not one) or NotFound (nothing matches), each with a message
    for the cashier in the active language.
    """
    value = (value or "").strip()
    if not value or len(value) > MAX_LENGTH:
        raise Invalid(_("Scan a card, or type a card number, a voucher code, an email or a "
                        "phone number."))
    if value.upper().startswith("LC"):
        return _card(cards.resolve_card(value))
    if "@" in value:
        try:
            email = members.normalise_email(value)
        except Invalid:
            raise Invalid(_("This email address is not valid.")) from None
        member = members.existing_member_for(email=email)
        if member is None or not member.is_active:
            raise NotFound(_("No member has this email address."))
        return TillMatch(member=member)

    number = cards.normalise_card_number(value)
    if cards.is_valid_card_number(number):
        card = Card.objects.filter(number=number).first()
        if card is not None:
            return _card(card)
    code = codes.normalise(value)
    if codes.is_well_formed(code):
        voucher = Voucher.objects.select_related("reward").filter(code=code).first()
        if voucher is not None:
            return TillMatch(member=_active(voucher.member_id), voucher=voucher)
    if PHONE_CHARACTERS.match(value):
        try:
            phone = members.normalise_phone(value)
        except Invalid:
            phone = ""
        member = members.existing_member_for(phone=phone) if phone else None
        if member is not None and member.is_active:
            return TillMatch(member=member)
    raise NotFound(_("No card, voucher or member matches this. Check what you typed."))


# --- by name --------------------------------------------------------------------------------

NAME_RESULTS = 8
NAME_MIN_LENGTH = 2


def looks_like_a_name(value: str) -> bool:
    value = (value or "").strip()
    return (len(value) >= NAME_MIN_LENGTH and any(char.isalpha() for char in value)
            and not any(char.isdigit() or char == "@" for char in value))


def find_by_name(value: str, *, limit: int = NAME_RESULTS) -> list[Member]:
    """Open members whose name matches, accents and case aside, best first; the same
    members a cashier may find today by card, email or phone (any active member of the
    programme), a few at a time.

    On PostgreSQL a trigram word similarity ("Hélène Dupond" finds "Helene Dupont"),
    through the index of migration 0012; elsewhere every word must appear in the name.
    """
    folded = fold(value)
    if len(folded) < NAME_MIN_LENGTH:
        return []
    # A constant expression (the index's), no input in it: the query is a parameter.
    haystack = RawSQL(NAME_EXPRESSION, [], output_field=CharField())  # noqa: S611
    members = Member.objects.filter(status=Member.Status.ACTIVE).annotate(name_folded=haystack)
    if connection.vendor == "postgresql":
        members = (members.filter(Q(name_folded__trigram_word_similar=folded)
                                  | Q(name_folded__contains=folded))
                   .annotate(score=TrigramWordSimilarity(folded, "name_folded"))
                   .order_by("-score", "last_name", "first_name", "pk"))
    else:
        for word in folded.split():
            members = members.filter(name_folded__contains=word)
        members = members.order_by("last_name", "first_name", "pk")
    return list(members.select_related("tier")[:limit])
