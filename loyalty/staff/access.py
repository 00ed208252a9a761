"""Which store a member of staff acts for, asked again on every request.

A cashier of one store acts for it; someone with several stores picks one (kept
in the session); a form carries the store it was shown for, so that a page left
open in another tab never credits the wrong store. Whatever the page shows, the
server checks the store against the person's roles each time.
"""

from __future__ import annotations

import time

from django.db.models import QuerySet

from accounts.roles import stores_for
from loyalty.models import Store

SESSION_KEY = "staff_store"


class StoreForbidden(Exception):
    """This person does not act for the store named (or for any store)."""


def staff_stores(user) -> QuerySet:
    """Open stores this user may act for as a cashier or manager (admins: all)."""
    return stores_for(user).filter(active=True).order_by("name")


def acting_store(request, code: str | None = None) -> Store | None:
    """The store of this request: the one named (a form field, a query parameter), else the
    one chosen in the session, else the only one. None when a choice is needed.

    Raises StoreForbidden when the store named is not one of this person's.
    """
    stores = staff_stores(request.user)
    code = (code or "").strip()
    if code:
        # A store code is a short slug; anything else names no store (and never reaches
        # the database, which refuses some characters).
        slug = code.replace("-", "").replace("_", "")
        if len(code) > 32 or not (slug.isascii() and slug.isalnum()):
            raise StoreForbidden(code[:32])
        store = stores.filter(code=code).first()
        if store is None:
            raise StoreForbidden(code)
        return store
    chosen = request.session.get(SESSION_KEY)
    if chosen:
        store = stores.filter(code=chosen).first()
        if store is not None:
            return store
        request.session.pop(SESSION_KEY, None)  # a role taken away since
    candidates = list(stores[:2])
    return candidates[0] if len(candidates) == 1 else None


def choose_store(request, code: str) -> Store:
    """Act for this store from now on. Raises StoreForbidden unless it is one of theirs."""
    if not (code or "").strip():
        raise StoreForbidden(code)
    store = acting_store(request, code)
    request.session[SESSION_KEY] = store.code
    return store


# --- which members' panels this session may open ------------------------------------------
#
# A panel shows a member's name, balance, card number and vouchers: it opens for a member
# found at the till in this session (their card scanned, their email or phone typed, their
# card issued here), for a while, and never from a bare member id in a URL or form.

SEEN_SESSION_KEY = "staff_seen_members"
SEEN_SECONDS = 30 * 60
SEEN_KEPT = 20


def remember_member(request, member_id: int, *, now: float | None = None) -> None:
    """This session found the member at the till: their panel may open (again) for a while."""
    now = time.time() if now is None else now
    seen = {key: at for key, at in request.session.get(SEEN_SESSION_KEY, {}).items()
            if now - at < SEEN_SECONDS and key != str(member_id)}
    seen[str(member_id)] = now
    # The most recent ones only: a till serves one customer at a time.
    request.session[SEEN_SESSION_KEY] = dict(sorted(seen.items(), key=lambda item: item[1])
                                             [-SEEN_KEPT:])


def may_open(request, member_id: int | None, *, now: float | None = None) -> bool:
    if member_id is None:
        return False
    now = time.time() if now is None else now
    at = request.session.get(SEEN_SESSION_KEY, {}).get(str(member_id))
    return at is not None and now - at < SEEN_SECONDS
