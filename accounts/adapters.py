from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    """Site-wide account behaviour. Linking to members happens on email confirmation
    (accounts.signals); logging in brings back the language chosen in the profile."""

    def post_login(self, request, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        language = getattr(user, "language", "")
        if language in dict(settings.LANGUAGES) and hasattr(response, "set_cookie"):
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax",
                                max_age=settings.LANGUAGE_COOKIE_AGE,
                                secure=settings.SESSION_COOKIE_SECURE)
        return response
