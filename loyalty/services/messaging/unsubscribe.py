"""One-click unsubscribe: a signed link in every message, no login needed (RFC 8058).

The token names the member, signed with the site's key; it does not expire (an
old email's link must still work). Unsubscribing withdraws the member's
marketing consents, dated in their history with the source `unsubscribe_link`.
"""

from __future__ import annotations

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Member
from loyalty.services import members
from loyalty.services.errors import NotFound

SALT = "loyalty.unsubscribe"
SOURCE = "unsubscribe_link"


def token_for(*, member_id: int) -> str:
    return signing.dumps({"m": int(member_id)}, salt=SALT, compress=True)


def path_for(*, member_id: int) -> str:
    return reverse("unsubscribe", args=[token_for(member_id=member_id)])


def member_for(token: str) -> Member:
    """The member a token names. NotFound for a forged, damaged or unknown one."""
    try:
        member_id = int(signing.loads(str(token), salt=SALT)["m"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise NotFound(fields={"token": "not a valid unsubscribe link"}) from None
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        raise NotFound(fields={"token": "not a valid unsubscribe link"})
    return members.follow_merges(member)


def unsubscribe(*, token: str, now=None) -> Member:
    """Withdraw every marketing consent of the token's member (each change dated, with
    its source). Idempotent. Raises NotFound for a bad token."""
    member = member_for(token)
    now = now or timezone.now()
    for channel in ("email", "sms"):
        member = members.set_consent(member_id=member.pk, channel=channel, granted=False,
                                     source=SOURCE, now=now)
    return member
