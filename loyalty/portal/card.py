"""The member's digital card: name, tier, balance and a QR that changes every 30 seconds.

The QR carries a signed token (loyalty.services.cards) that a till accepts for
about a minute, so a screenshot or a photo of it soon stops working. The page
asks `card/token.json` for a fresh one before the shown one expires, without
reloading. A member only ever sees their own card: both views find the card
from the logged-in user, never from the URL.
"""

from __future__ import annotations

import base64
import math
import time

import qrcode
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET
from qrcode.image.svg import SvgPathImage

from loyalty import selectors
from loyalty.models import Card
from loyalty.services import cards


def qr_data_uri(text: str) -> str:
    """A vector QR of `text` as an SVG data URI: sharp on any screen, no second request, and
    the image stays on screen when the network drops."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10,
                       border=4, image_factory=SvgPathImage)
    qr.add_data(text)
    qr.make(fit=True)
    svg = qr.make_image().to_string(encoding="utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def token_payload(card: Card, *, at: float | None = None) -> dict:
    """A fresh token and when to ask for the next one, both read off the same instant, so a
    request landing on a step's boundary never gets an old token with a whole step to wait."""
    now = time.time() if at is None else at
    token = cards.make_token(card, at=now)
    # Rounded up: the page asks again just after the step turns, never just before.
    seconds_left = math.ceil(cards.TOKEN_STEP_SECONDS - now % cards.TOKEN_STEP_SECONDS)
    return {
        "token": token,
        "qr": qr_data_uri(token),
        "seconds_left": seconds_left,
        "step_seconds": cards.TOKEN_STEP_SECONDS,
        # How long the shown token is accepted: its own step and the next one.
        "valid_seconds": seconds_left
        + cards.TOKEN_STEP_SECONDS * (cards.TOKEN_ACCEPTED_STEPS - 1),
    }


@login_required
@require_GET
def card(request):
    member = selectors.member_for_user(request.user)
    shown = cards.card_to_show(member) if member is not None else None
    context = {"member": member, "card": shown}
    if shown is not None:
        context.update(token_payload(shown))
        context["plastic_cards"] = list(member.cards.filter(kind=Card.Kind.PHYSICAL)
                                        .order_by("-issued_at"))
        context["next_tier"] = selectors.next_tier(member=member)
    response = render(request, "portal/card.html", context)
    add_never_cache_headers(response)  # a token in the HTML must not be served again
    return response


@login_required
@require_GET
def offline_card(request):
    """The card as the service worker keeps it for a phone without network: the number and
    a QR of the number (what a plastic card carries, accepted by every till), no rotating
    token. Private: never kept by a shared cache; the worker drops it on logging out."""
    member = selectors.member_for_user(request.user)
    shown = cards.card_to_show(member) if member is not None else None
    context = {"member": member, "card": shown}
    if shown is not None:
        context["static_qr"] = qr_data_uri(shown.number)
    response = render(request, "portal/card_offline.html", context)
    response["Cache-Control"] = "private, no-cache"
    return response


@require_GET
def card_token(request):
    """A fresh token and its QR for the page's refresh. JSON errors, never a login page."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": {"code": "not_authenticated"}}, status=401)
    member = selectors.member_for_user(request.user)
    shown = cards.card_to_show(member) if member is not None else None
    if shown is None:
        return JsonResponse({"error": {"code": "not_found"}}, status=404)
    response = JsonResponse(token_payload(shown))
    add_never_cache_headers(response)
    return response
