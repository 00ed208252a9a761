"""allauth's signals, wired to the account services."""

from __future__ import annotations

from allauth.account.signals import email_confirmed, user_signed_up
from django.dispatch import receiver

from accounts import services
from loyalty.models import Member

REFERRER_SESSION_KEY = "referred_by_member"


def referrer_from(request) -> Member | None:
    session = getattr(request, "session", None)
    referrer_id = session.get(REFERRER_SESSION_KEY) if session is not None else None
    if not referrer_id:
        return None
    return Member.objects.filter(pk=referrer_id, status="active").first()


@receiver(email_confirmed, dispatch_uid="accounts.link_member_on_confirmation")
def link_member_on_confirmation(sender, request, email_address, **kwargs):
    """The member link waits for a confirmed email, never the signup itself."""
    if email_address.user.email.lower() != email_address.email.lower():
        return  # a secondary address confirmed: the login's own email decides
    member = services.link_user_to_member(user=email_address.user,
                                          referred_by=referrer_from(request))
    if member is not None and request is not None and hasattr(request, "session"):
        request.session.pop(REFERRER_SESSION_KEY, None)


@receiver(user_signed_up, dispatch_uid="accounts.remember_language_on_signup")
def remember_language_on_signup(sender, request, user, **kwargs):
    language = getattr(request, "LANGUAGE_CODE", "") if request is not None else ""
    if language and not user.language:
        user.language = language[:8]
        user.save(update_fields=["language"])
