"""Enrolment at the till: the card over the counter, the consents asked, the welcome.

A customer enrolled by a cashier is welcomed as one who signed up on the web: the
same welcome points (`actions.award_welcome`, once per member whichever door), the
welcome journey's message at once (the same occasion as the journey's hourly run,
so never twice), and the consents they gave recorded in the consent history.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from loyalty.services import actions, consents, members
from loyalty.services.messaging import journeys

TILL_SOURCE = "till"


def enrol_at_till(*, store, number: str | None = None, email: str = "", phone: str = "",
                  first_name: str = "", last_name: str = "", email_marketing: bool = False,
                  sms_marketing: bool = False, now: datetime | None = None
                  ) -> members.TillCard:
    """Issue a plastic card to the customer found by email or phone, or enrol them.

    A new member gets the welcome points and the welcome message; consents ticked are
    recorded (for a known member too: a consent not ticked withdraws nothing). Raises
    what `members.issue_card_at_till` raises; a refused card enrols nobody.
    """
    now = now or timezone.now()
    with transaction.atomic():
        issued = members.issue_card_at_till(store=store, number=number, email=email,
                                            phone=phone, first_name=first_name,
                                            last_name=last_name)
        member = issued.member
        for channel, granted in (("email", email_marketing), ("sms", sms_marketing)):
            if granted:
                # The promised newsletter points on a first email opt-in, as on the web.
                consents.set_marketing_consent(member_id=member.pk, channel=channel,
                                               granted=True, source=TILL_SOURCE, now=now)
        if issued.new_member:
            actions.award_welcome(member=member,
                                  event_id=f"{actions.ACCOUNT_CREATED}:member:{member.pk}",
                                  now=now)
            journeys.welcome_now(member_id=member.pk, now=now)
        member.refresh_from_db()
        return members.TillCard(card=issued.card, member=member, new_member=issued.new_member)
