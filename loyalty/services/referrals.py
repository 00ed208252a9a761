"""Referrals: a member who brings a friend earns the `referral` action on the friend's
first purchase. (Who referred whom is kept on the member, set when the friend's account
is linked: accounts.services.link_user_to_member.)"""

from __future__ import annotations

import logging

from loyalty.models import Member, Purchase
from loyalty.services import actions
from loyalty.services.errors import DomainError

logger = logging.getLogger(__name__)

REFERRAL = "referral"


def credit_referral(*, purchase: Purchase) -> None:
    """On a referred member's first purchase, the referrer earns the `referral` action,
    once per friend (event id `referral:<member id>`), never for referring themselves.

    Runs inside the purchase's transaction; a closed referrer or no active rule earns
    nothing and never fails the purchase.
    """
    member = purchase.member
    referrer_id = member.referred_by_id
    if referrer_id is None or referrer_id == member.pk:
        return
    if Purchase.objects.filter(member=member).exclude(pk=purchase.pk).exists():
        return
    referrer = Member.objects.filter(pk=referrer_id, status="active").first()
    if referrer is None:
        return
    try:
        # Dated like the purchase, so a back-dated import credits the referral in order.
        actions.award_if_active(member=referrer, event_type=REFERRAL,
                                event_id=f"{REFERRAL}:{member.pk}",
                                occurred_at=purchase.occurred_at, now=purchase.created_at)
    except DomainError as error:  # a conflict or a closed member: the purchase still counts
        logger.warning("Referral for member %s not credited: %s", member.pk, error.code)
