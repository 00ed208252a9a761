"""allauth's signals, wired to the account services."""

from __future__ import annotations

from allauth.account.signals import email_confirmed, user_signed_up
from django.core.cache import cache
from django.dispatch import receiver

from accounts import services
from loyalty.models import Member

REFERRER_SESSION_KEY = "referred_by_member"
# The confirmation link may be opened on another device than the sign-up: the referrer
# waits in the cache, under the new user's id, for as long as a confirmation is valid.
REFERRER_CACHE_SECONDS = 60 * 60 * 24 * 7


def _cache_key(user) -> str:
    return f"accounts:referrer:{user.pk}"


def referrer_from(request, user=None) -> Member | None:
    session = getattr(request, "session", None)
    referrer_id = session.get(REFERRER_SESSION_KEY) if session is not None else None
    if not referrer_id and user is not None:
        referrer_id = cache.get(_cache_key(user))
    if not referrer_id:
        return None
    return Member.objects.filter(pk=referrer_id, status="active").first()


@receiver(email_confirmed, dispatch_uid="accounts.link_member_on_confirmation")
def link_member_on_confirmation(sender, request, email_address, **kwargs):
    """The member link waits for a confirmed email, never the signup itself."""
    if email_address.user.email.lower() != email_address.email.lower():
        return  # a secondary address confirmed: the login's own email decides
    user = email_address.user
    member = services.link_user_to_member(user=user, referred_by=referrer_from(request, user))
    if member is not None:
        cache.delete(_cache_key(user))
        if request is not None and hasattr(request, "session"):
            request.session.pop(REFERRER_SESSION_KEY, None)


@receiver(user_signed_up, dispatch_uid="accounts.remember_signup_context")
def remember_signup_context(sender, request, user, **kwargs):
    """Keep the language the person signed up in, and who referred them, for later."""
    session = getattr(request, "session", None)
    if session is not None and session.get(REFERRER_SESSION_KEY):
        cache.set(_cache_key(user), session[REFERRER_SESSION_KEY], REFERRER_CACHE_SECONDS)
    language = getattr(request, "LANGUAGE_CODE", "") if request is not None else ""
    if language and not user.language:
        user.language = language[:8]
        user.save(update_fields=["language"])
