"""What an idempotent write returns: the object, and whether this call created it.

A retried request (the same order id, event id or redemption id) gets the first
call's object back with `created=False`, and the caller answers as it did then.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recorded:
    """A purchase (or refund, or action) and whether this call created it."""

    obj: object
    created: bool
