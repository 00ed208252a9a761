"""A customer's account and their member: linking on email confirmation, and the profile.

Referrals live in loyalty.services.referrals, the data rights (export and erasure) in
loyalty.services.privacy: they are the programme's, whatever door the member came in by.

Services: keyword-only, typed, one transaction each. Domain errors come from
loyalty.services.errors; pages translate them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from loyalty.models import (
    Member,
)
from loyalty.services import actions
from loyalty.services import members as member_services
from loyalty.services.consents import NEWSLETTER_SIGNUP, set_marketing_consent  # noqa: F401
from loyalty.services.errors import Invalid, MemberExists

logger = logging.getLogger("loyalty.portal")

ACCOUNT_CREATED = actions.ACCOUNT_CREATED


@dataclass(frozen=True)
class SignupAnswers:
    """What the sign-up form asked, as kept on the login until its email is confirmed."""

    birth_date: date | None
    consents: tuple[str, ...]  # the channels said yes to
    at: datetime

    @classmethod
    def of(cls, user) -> SignupAnswers:
        raw = getattr(user, "signup_answers", None) or {}
        try:
            birth_date = date.fromisoformat(raw["birth_date"]) if raw.get("birth_date") else None
        except (TypeError, ValueError):
            birth_date = None
        if birth_date is not None and not (date(1900, 1, 1) <= birth_date
                                           <= timezone.localdate()):
            birth_date = None
        try:
            at = datetime.fromisoformat(raw["at"]) if raw.get("at") else timezone.now()
        except (TypeError, ValueError):
            at = timezone.now()
        consents = tuple(channel for channel in ("email", "sms")
                         if raw.get(f"{channel}_marketing") is True)
        return cls(birth_date=birth_date, consents=consents, at=at)


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
    answers = SignupAnswers.of(user)
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
                # What the till knew stays; what the sign-up adds fills the blanks.
                if not member.first_name and user.first_name:
                    member.first_name = user.first_name[:100]
                    fields.append("first_name")
                if member.birth_date is None and answers.birth_date is not None:
                    member.birth_date = answers.birth_date
                    fields.append("birth_date")
                member.save(update_fields=fields)
            else:
                try:
                    member = member_services.create_member(
                        email=email, user=user, language=user.language,
                        first_name=user.first_name[:100], last_name=user.last_name[:100],
                        birth_date=answers.birth_date)
                except MemberExists:  # pragma: no cover - enrolled elsewhere a moment ago
                    return None
        if (referred_by is not None and member.referred_by_id is None
                and referred_by.pk != member.pk and referred_by.is_active):
            member.referred_by = referred_by
            member.save(update_fields=["referred_by", "updated_at"])
        # The consents given on the sign-up form, dated when they were given, in the history.
        for channel in answers.consents:
            member = set_marketing_consent(member_id=member.pk, channel=channel,
                                           granted=True, source="signup", now=answers.at)
        if user.signup_answers:
            get_user_model().objects.filter(pk=user.pk).update(signup_answers={})
            user.signup_answers = {}
        actions.award_welcome(member=member, event_id=f"{ACCOUNT_CREATED}:{user.pk}")
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
            set_marketing_consent(member_id=member.pk, channel=channel, granted=granted,
                                  source="portal", now=now)
        member.refresh_from_db()
        return member


def set_preferred_language(*, user, language: str) -> None:
    """The language chosen anywhere (the footer, the profile) is the login's and its
    member's, so the pages, the emails and the messages never disagree. Raises Invalid for a
    language the site does not offer."""
    from django.conf import settings

    if language not in dict(settings.LANGUAGES):
        raise Invalid(fields={"language": "not a language of the site"})
    with transaction.atomic():
        get_user_model().objects.filter(pk=user.pk).update(language=language)
        user.language = language
        Member.objects.filter(user=user, status="active").update(language=language,
                                                                 updated_at=timezone.now())
