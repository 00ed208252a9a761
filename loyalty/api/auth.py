"""Who is calling: a machine with an API key, or a member of staff with a session.

Both end up as a `Caller` on `request.user`, with the store it acts for and its
scopes, so that views and permissions ask one question whoever calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework_api_key.permissions import KeyParser

from accounts.models import StaffRole
from accounts.roles import is_programme_admin, stores_for
from loyalty.models import ApiKey, Store
from loyalty.services import settings_cache

ALL_SCOPES = tuple(ApiKey.Scope.values)
# Merging reshapes the programme's view of a person: programme admins only
# (accounts.roles.may_merge_members), never a till.
STORE_STAFF_SCOPES = ("members:read", "members:write", "purchases:write", "events:write",
                      "redeem")
# Managers see the programme's insight (scores, segments, value) as on the insight page;
# cashiers do not.
STAFF_SCOPES = {StaffRole.Role.CASHIER: STORE_STAFF_SCOPES,
                StaffRole.Role.MANAGER: (*STORE_STAFF_SCOPES, "insight:read")}
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass
class Caller:
    """The authenticated party of an API request."""

    store: Store
    scopes: tuple[str, ...]
    owner: str  # a stable id for idempotency records and throttling
    api_key: ApiKey | None = None
    user: object | None = None
    is_authenticated: bool = field(default=True, init=False)
    is_active: bool = field(default=True, init=False)
    is_staff: bool = field(default=False, init=False)
    is_superuser: bool = field(default=False, init=False)
    pk: None = field(default=None, init=False)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`. Keys are looked up by prefix and checked by hash."""

    keyword = "Api-Key"
    parser = KeyParser()

    def authenticate(self, request):
        key = self.parser.get(request)
        if key is None:
            return None
        key = key.strip()
        prefix = key.partition(".")[0]
        api_key = None
        if prefix and len(key) < 200 and prefix.isascii() and prefix.isalnum():
            # Cached for a minute; saving the key (revoking it) drops the entry at once.
            api_key = settings_cache.cached(
                settings_cache.api_key_entry(prefix),
                lambda: ApiKey.objects.get_usable_keys().select_related("store")
                .filter(prefix=prefix).first() or False) or None
        if (api_key is None or not api_key.is_valid(key) or api_key.has_expired
                or not api_key.store.active):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_PRECISION:
            # At most one write a minute per key, not one per request (an update, not a
            # save: the cached key stays cached).
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
            settings_cache.store(settings_cache.api_key_entry(prefix), api_key)
        caller = Caller(store=api_key.store, scopes=tuple(api_key.scopes),
                        owner=f"key:{api_key.prefix}", api_key=api_key)
        return caller, api_key

    def authenticate_header(self, request):
        return self.keyword


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """Staff pages call the API with their session (CSRF enforced).

    The store comes from the `X-Store` header (a store code), or is the only
    store the person acts for.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        stores = stores_for(user)
        if not stores.exists():
            raise exceptions.PermissionDenied("Only staff of a store can use the API this way.")
        code = request.META.get("HTTP_X_STORE", "").strip()
        store = stores.filter(code=code).first() if code else None
        if store is None and not code:
            candidates = list(stores[:2])
            store = candidates[0] if len(candidates) == 1 else None
        if store is None:
            raise exceptions.PermissionDenied(
                "Name the store you act for in the X-Store header." if not code
                else "You do not act for this store.")
        if is_programme_admin(user):
            scopes = ALL_SCOPES
        else:
            role = (StaffRole.objects.filter(user=user, store=store)
                    .values_list("role", flat=True).first())
            scopes = STAFF_SCOPES.get(role, ())
        return Caller(store=store, scopes=tuple(scopes),
                      owner=f"user:{user.pk}@{store.code}", user=user), None


class HasScope(permissions.BasePermission):
    """The view's `required_scopes[method]` must all be held by the caller."""

    message = "This key does not have the scope this request needs."

    def has_permission(self, request, view):
        caller = request.user
        if not isinstance(caller, Caller):
            return False
        needed = getattr(view, "required_scopes", {}).get(request.method, ())
        return all(caller.has_scope(scope) for scope in needed)
