"""Pages with personal data are never stored by a browser or a shared cache."""

from django.utils.cache import add_never_cache_headers

# The account pages (login, sign-up, password reset, email addresses) even when logged out.
ALWAYS_PRIVATE_PREFIXES = ("/accounts/", "/staff/", "/admin/")


class PrivatePagesNoStoreMiddleware:
    """`Cache-Control: no-cache, no-store, must-revalidate, private` on every page served to
    a logged-in person (the portal, the till, the admin) and on the account pages, unless
    the view chose its own caching. A shared computer's back button or a proxy must not
    show one customer's balance, card or vouchers to the next."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or request.path_info.startswith(
                ALWAYS_PRIVATE_PREFIXES):
            add_never_cache_headers(response)
        return response
