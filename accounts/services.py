"""A customer's account and their member: linking on email confirmation, and the profile.

Referrals live in loyalty.services.referrals, the data rights (export and erasure) in
loyalty.services.privacy: they are the programme's, whatever door the member came in by.

Services: keyword-only, typed, one transaction each. Domain errors come from
loyalty.services.errors; pages translate them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone

from loyalty.models import (
    Member,
)
from loyalty.services import actions
from loyalty.services import members as member_services
from loyalty.services.errors import Invalid, MemberExists

logger = logging.getLogger("loyalty.portal")

ACCOUNT_CREATED = "account_created"


def _verified(user, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def link_user_to_member(*, user, referred_by: Member | None = None) -> Member | None:
    """Give a user whose email is confirmed their member: the active member holding that
    email (an in-store member joining online), or a new one; and the welcome points, once.

    Only a verified email links: an address someone merely typed never grants access to
    another person's points. A member already linked to another login is left alone (None).
    `referred_by` is kept only for a member who has none yet and is not the referrer.
    """
    email = member_services.normalise_email(user.email)
    if not email or not _verified(user, email):
        return None
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(user=user, status="active").first()
        if member is None:
            member = member_services.existing_member_for(email=email)
            if member is not None:
                member = Member.objects.select_for_update().get(pk=member.pk)
                if not member.is_active or (member.user_id and member.user_id != user.pk):
                    logger.warning("Account %s not linked: member %s is taken or closed",
                                   user.pk, member.pk)
                    return None
                member.user = user
                fields = ["user", "updated_at"]
                if not member.language and user.language:
                    member.language = user.language
                    fields.append("language")
                member.save(update_fields=fields)
            else:
                try:
                    member = member_services.create_member(email=email, user=user,
                                                           language=user.language)
                except MemberExists:  # pragma: no cover - enrolled elsewhere a moment ago
                    return None
        if (referred_by is not None and member.referred_by_id is None
                and referred_by.pk != member.pk and referred_by.is_active):
            member.referred_by = referred_by
            member.save(update_fields=["referred_by", "updated_at"])
        actions.award_if_active(member=member, event_type=ACCOUNT_CREATED,
                                event_id=f"{ACCOUNT_CREATED}:{user.pk}")
        logger.info("Account %s linked to member %s", user.pk, member.pk)
        return member


def update_profile(*, member: Member, first_name: str, last_name: str, phone: str,
                   birth_date: date | None, language: str, email_marketing: bool,
                   sms_marketing: bool, now: datetime | None = None) -> Member:
    """Change what the member may change themselves. Raises Invalid (bad phone, names,
    birth date) or MemberExists (phone held by another member). Consents go through
    `set_consent`, so each change is dated and kept in the history."""
    now = now or timezone.now()
    # Every problem at once (the form shows them all), not the first one found.
    problems = {}
    try:
        phone = member_services.normalise_phone(phone)
    except Invalid as error:
        problems.update(error.fields or {"phone": "not a valid phone number"})
    first_name, last_name = first_name.strip(), last_name.strip()
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > 100:
            problems[field] = "at most 100 characters"
    if birth_date is not None and not (date(1900, 1, 1) <= birth_date <= timezone.localdate()):
        problems["birth_date"] = "not a plausible birth date"
    if problems:
        raise Invalid(fields=problems)
    with transaction.atomic():
        member = (Member.objects.select_for_update(of=("self",)).select_related("user")
                  .get(pk=member.pk))
        if phone and Member.objects.filter(phone=phone, status="active").exclude(
                pk=member.pk).exists():
            raise MemberExists(fields={"phone": "held by another member"})
        member.first_name, member.last_name = first_name, last_name
        member.phone, member.birth_date, member.language = phone, birth_date, language
        member.save(update_fields=["first_name", "last_name", "phone", "birth_date",
                                   "language", "updated_at"])
        if member.user is not None:
            member.user.first_name, member.user.last_name = first_name, last_name
            member.user.language = language
            member.user.save(update_fields=["first_name", "last_name", "language"])
        for channel, granted in (("email", email_marketing), ("sms", sms_marketing)):
            member_services.set_consent(member_id=member.pk, channel=channel, granted=granted,
                                        source="portal", now=now)
        member.refresh_from_db()
        return member


