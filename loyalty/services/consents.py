"""Marketing consents given or withdrawn, with the points the programme promises for the
first opt-in to email (`newsletter_signup`): one service for every door (the profile, the
sign-up, the till), so that no door forgets the promise."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from loyalty.models import ActionEvent, ConsentChange, Member
from loyalty.services import actions
from loyalty.services import members as member_services

NEWSLETTER_SIGNUP = "newsletter_signup"


def set_marketing_consent(*, member_id: int, channel: str, granted: bool, source: str = "",
                          now: datetime | None = None) -> Member:
    """A consent given or withdrawn (dated, in the history: `set_consent`), and the
    `newsletter_signup` points the programme promises for the member's first opt-in to
    email: once per member ever. Opting out and in again gives nothing, nor does an opt-in
    after the member earned that action another way (the e-shop's event). Raises Invalid
    (unknown channel)."""
    now = now or timezone.now()
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member_id)
        first_email_opt_in = (
            channel == ConsentChange.Channel.EMAIL and granted and not member.email_marketing
            and not ConsentChange.objects.filter(member=member, channel=channel,
                                                 granted=True).exists())
        member = member_services.set_consent(member_id=member.pk, channel=channel,
                                             granted=granted, source=source, now=now)
        if first_email_opt_in and member.is_active and not ActionEvent.objects.filter(
                member=member, rule__event_type=NEWSLETTER_SIGNUP).exists():
            # The event id is the member's: a retry (or a race) records it once.
            actions.award_if_active(member=member, event_type=NEWSLETTER_SIGNUP,
                                    event_id=f"{NEWSLETTER_SIGNUP}:{member.pk}", now=now)
            member.refresh_from_db()
        return member
