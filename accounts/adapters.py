from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.conf import settings
from django.contrib.sites.shortcuts import get_current_site

from accounts.tasks import queue_account_email


class AccountAdapter(DefaultAccountAdapter):
    """Site-wide account behaviour. Linking to members happens on email confirmation
    (accounts.signals); logging in brings back the language chosen in the profile; emails
    are rendered here and sent by a worker."""

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        # As allauth's own, except the last step: queued, not sent in the request.
        request = allauth_context.request
        message = self.render_mail(template_prefix, email, {
            "request": request, "email": email, "current_site": get_current_site(request),
            **context})
        queue_account_email(message)

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        language = getattr(user, "language", "")
        if language in dict(settings.LANGUAGES) and hasattr(response, "set_cookie"):
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language,
                                max_age=settings.LANGUAGE_COOKIE_AGE,
                                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                                secure=settings.LANGUAGE_COOKIE_SECURE)
        return response
