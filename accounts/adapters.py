from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site
from django.utils import translation

from accounts.tasks import queue_account_email
from loyalty.brand import current_brand


class AccountAdapter(DefaultAccountAdapter):
    """Site-wide account behaviour. Linking to members happens on email confirmation
    (accounts.signals); logging in brings back the language chosen in the profile; emails
    are rendered here, in the programme's name and layout and in the reader's language,
    and sent by a worker."""

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # As allauth's own, except the last step: queued, not sent in the request.
        request = allauth_context.request
        user = context.get("user") or self._user_for(email)
        language = self._language_for(user, request)
        with translation.override(language):
            message = self.render_mail(template_prefix, email, {
                "request": request, "email": email,
                "current_site": get_current_site(request),
                "first_name": self._first_name(user), "site_url": settings.LOYALTY_SITE_URL,
                **context})
        queue_account_email(message)

    def format_email_subject(self, subject: str) -> str:
        # The subject says the programme's name, never "[127.0.0.1]" (the Sites framework's).
        name = current_brand().name
        return subject if name in subject else f"{name}: {subject}"

    @staticmethod
    def _user_for(email: str):
        from accounts.models import User

        return User.objects.filter(email__iexact=email).first() if email else None

    @staticmethod
    def _language_for(user, request) -> str:
        """The reader's language: their login's (which the profile and the footer keep equal
        to their member's), else the page's they are on."""
        languages = dict(settings.LANGUAGES)
        member = getattr(user, "member", None) if user is not None else None
        for language in (getattr(member, "language", ""), getattr(user, "language", ""),
                         getattr(request, "LANGUAGE_CODE", "") if request else "",
                         translation.get_language()):
            if language in languages:
                return language
        return settings.LANGUAGE_CODE

    @staticmethod
    def _first_name(user) -> str:
        if user is None:
            return ""
        member = getattr(user, "member", None)
        return (getattr(member, "first_name", "") or user.first_name or "").strip()

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        language = getattr(user, "language", "")
        if language in dict(settings.LANGUAGES) and hasattr(response, "set_cookie"):
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language,
                                max_age=settings.LANGUAGE_COOKIE_AGE,
                                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                                secure=settings.LANGUAGE_COOKIE_SECURE)
        return response
