"""What django-axes counts failed logins by: the user name and the client's address.

allauth authenticates with `email=` (and its form posts the field `login`), Django's
admin with `username=`: axes' own lookup by one form field name would see no user
name at all, and lock out everybody behind one address at once. The address is the
one allauth's rate limits use, so that both read the same client behind the proxy
(TRUSTED_PROXY_COUNT).
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.core.exceptions import ImproperlyConfigured, PermissionDenied

USERNAME_KEYS = ("email", "username", "login")


def username_of(request, credentials: dict | None) -> str | None:
    """The login tried, lower-cased (emails are case-insensitive here), or None."""
    sources = [credentials or {}]
    if request is not None:
        sources.append(getattr(request, "data", None) or getattr(request, "POST", {}))
    for source in sources:
        for key in USERNAME_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip().lower()[:255]
    return None


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT reverse proxies the
    address the outermost one saw (X-Forwarded-For, counted from the right)."""
    try:
        return get_adapter(request).get_client_ip(request)
    except (ImproperlyConfigured, PermissionDenied):
        # Fewer X-Forwarded-For entries than proxies configured: not through the proxy.
        return request.META.get("REMOTE_ADDR")
