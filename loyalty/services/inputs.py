"""Checking what callers send to the services: money, identifiers, times, fingerprints.

Shared by purchases, actions, rewards and the imports, so that an amount or an
order id means the same everywhere and is refused with the same error.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils import timezone

from loyalty.services.errors import Invalid

MAX_QUANTITY = 100_000
CENT = Decimal("0.01")


def parse_money(value, *, field: str, allow_zero: bool = True) -> Decimal:
    """A decimal amount with at most two places, within the programme's bounds."""
    if isinstance(value, float | bool) or value is None:
        raise Invalid(fields={field: "a decimal string such as \"49.90\""})
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid(fields={field: "a decimal string such as \"49.90\""}) from None
    if not amount.is_finite():
        raise Invalid(fields={field: "must be a finite amount"})
    if amount != amount.quantize(CENT, rounding="ROUND_DOWN"):
        raise Invalid(fields={field: "at most two decimal places"})
    if amount < 0 or (amount == 0 and not allow_zero):
        raise Invalid(fields={field: "must be positive"})
    if amount > Decimal(settings.LOYALTY_MAX_PURCHASE_AMOUNT):
        raise Invalid(fields={field: f"at most {settings.LOYALTY_MAX_PURCHASE_AMOUNT}"})
    return amount.quantize(CENT)


def identifier(value, *, field: str) -> str:
    """An id sent by a caller (order, event, sku): 1 to 100 printable characters."""
    value = str(value or "").strip()
    if not value or len(value) > 100 or any(ord(ch) < 32 for ch in value):
        raise Invalid(fields={field: "1 to 100 printable characters"})
    return value


def content_fingerprint(payload: dict) -> str:
    """A stable digest of a request's content, to tell a replay from a conflict."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def checked_occurred_at(value: datetime | None, now: datetime) -> datetime:
    """When something happened, as the caller says: aware, not in the future (beyond the
    tills' clock skew), not more than ten years ago; `now` when not given."""
    if value is None:
        return now
    if timezone.is_naive(value):
        raise Invalid(fields={"occurred_at": "needs a time zone offset"})
    if value > now + settings.LOYALTY_CLOCK_SKEW:
        raise Invalid(fields={"occurred_at": "in the future"})
    if value < now - timedelta(days=365 * 10):
        raise Invalid(fields={"occurred_at": "too far in the past"})
    return value
