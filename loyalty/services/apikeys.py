"""API keys for machines: one store each, scoped, stored hashed, revocable."""

from __future__ import annotations

from django.db import transaction

from loyalty.models import ApiKey, Store
from loyalty.services.errors import Invalid, NotFound


def create_api_key(*, name: str, store_code: str, scopes: list[str] | None = None
                   ) -> tuple[ApiKey, str]:
    """Create a key; returns it with the secret, which is shown once and never stored.

    Without scopes the key gets every scope. Raises NotFound (store), Invalid.
    """
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise Invalid(fields={"name": "1 to 50 characters"})
    store = Store.objects.filter(code=store_code).first()
    if store is None:
        raise NotFound(fields={"store": store_code})
    scopes = list(ApiKey.Scope.values) if not scopes else list(dict.fromkeys(scopes))
    unknown = sorted(set(scopes) - set(ApiKey.Scope.values))
    if unknown:
        raise Invalid(fields={"scopes": f"unknown: {', '.join(unknown)}; "
                                        f"known: {', '.join(ApiKey.Scope.values)}"})
    with transaction.atomic():
        return ApiKey.objects.create_key(name=name, store=store, scopes=scopes)


def revoke_api_key(*, prefix: str) -> ApiKey:
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(prefix=prefix).first()
        if key is None:
            raise NotFound(fields={"prefix": prefix})
        if not key.revoked:
            key.revoked = True
            key.save(update_fields=["revoked"])
        return key
