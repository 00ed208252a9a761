"""The SECRET_KEY a production site may start with.

Everything signed here depends on it: sessions, the card QR tokens, email
confirmation links, password resets. The development key is in the repository,
so anyone can forge those with it; a short or repetitive key can be guessed.
With DEBUG off, settings.py refuses to load with such a key.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter

from django.core.exceptions import ImproperlyConfigured

# Development only (DEBUG=1): public, so never accepted with DEBUG off.
DEVELOPMENT_KEY = "django-insecure-development-key-change-me-in-production-0123456789"
MIN_LENGTH = 50  # as Django's own deployment check (security.W009)
MIN_DISTINCT_CHARACTERS = 10
MIN_ESTIMATED_BITS = 128
# A random key does not compress; a repeated pattern ("0123456789" * 5) does.
MIN_COMPRESSED_RATIO = 0.8

GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(60))'"


def estimated_bits(key: str) -> float:
    """Shannon entropy of the key's own characters, times its length: an upper bound of
    what it holds, low for keys made of few symbols."""
    counts = Counter(key)
    return -sum(n * math.log2(n / len(key)) for n in counts.values()) if key else 0.0


def weakness(key: str) -> str | None:
    """Why this key must not sign anything in production, or None when it may."""
    if not key:
        return "SECRET_KEY is not set"
    if key == DEVELOPMENT_KEY or key.startswith("django-insecure-"):
        return "SECRET_KEY is the public development key"
    if len(key) < MIN_LENGTH:
        return f"SECRET_KEY is shorter than {MIN_LENGTH} characters"
    if (len(set(key)) < MIN_DISTINCT_CHARACTERS or estimated_bits(key) < MIN_ESTIMATED_BITS
            or len(zlib.compress(key.encode(), 9)) < MIN_COMPRESSED_RATIO * len(key)):
        return "SECRET_KEY is too repetitive to be secret"
    return None


def require_production_key(key: str) -> str:
    """The key, or ImproperlyConfigured saying why it is refused and how to make one."""
    reason = weakness(key)
    if reason is not None:
        raise ImproperlyConfigured(
            f"{reason}: with DEBUG off the site refuses to start. Set SECRET_KEY to a long "
            f"random value, e.g. the output of {GENERATE}")
    return key
