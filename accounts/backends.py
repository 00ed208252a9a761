"""An authentication backend that only refuses: the demo's published password in production."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import PermissionDenied


class RefuseDemoPassword:
    """With DEBUG off, nobody logs in with the demo's password (it is printed by `make run`
    and in the README), whatever the account: the demo logins cannot be used in production.

    Raising PermissionDenied stops `authenticate()` at once, and the refusal counts as a
    failed login (axes sees it).
    """

    def authenticate(self, request, password=None, **credentials):
        from loyalty.services.demo.data import DEMO_PASSWORD

        if (not settings.DEBUG and isinstance(password, str)
                and hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())):
            raise PermissionDenied
        # No get_user(): it logs nobody in, so sessions never name this backend.
        return None
