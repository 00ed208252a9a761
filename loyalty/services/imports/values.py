"""The values of an import file's cells: dates, times, yes/no, whole numbers, text.

Each parser returns the typed value or raises `BadValue` with a stable code
and its params (the message is rendered when read: messages.py). A date or a time without
an offset is read in the programme's time zone (settings.TIME_ZONE): a shop's
export says "2024-03-01 18:30" meaning its own clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from loyalty.services.errors import Invalid
from loyalty.services.imports.messages import render
from loyalty.services.members import normalise_email

YES = {"yes", "y", "true", "1", "oui", "o", "x"}
NO = {"no", "n", "false", "0", "non"}


class BadValue(Exception):
    """A cell's value is wrong: a stable code and JSON-safe params, no sentence."""

    def __init__(self, code: str, **params):
        self.code, self.params = code, params
        super().__init__(code)

    @property
    def message(self) -> str:
        return render(self.code, self.params)


def from_invalid(error: Invalid, code: str, **params) -> BadValue:
    """A core service's Invalid (parse_money, normalise_email, ...) as a cell error: its
    detail is an English phrase for the API, so the cell error says it with the code's own
    message (messages.py), in the reader's language."""
    del error  # the code says what is wrong
    return BadValue(code, **params)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text(value: str, *, max_length: int = 100) -> str:
    if len(value) > max_length:
        raise BadValue("too_long", max=max_length)
    if _CONTROL.search(value):
        raise BadValue("invalid_text")
    return value


def email(value: str) -> str:
    """An email normalised as the members service stores it; code `invalid_email`."""
    try:
        return normalise_email(value)
    except Invalid as error:
        raise from_invalid(error, "invalid_email") from None


def identifier(value: str) -> str:
    """An id from another system: 1 to 100 printable characters (as the API takes them)."""
    if not value:
        raise BadValue("required")
    return text(value)


def local_datetime(value: str, *, now: datetime, max_age_days: int | None = 3650) -> datetime:
    """ISO 8601 date ("2024-03-01": midnight) or date and time, with or without an offset.

    Without an offset, the programme's time zone. Never after `now` (plus the tills'
    clock skew) nor, by default, more than ten years before it, as for purchases
    recorded live.
    """
    if not value:
        raise BadValue("required")
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time())
        else:
            parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise BadValue("invalid_datetime") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    if parsed > now + settings.LOYALTY_CLOCK_SKEW:
        raise BadValue("in_future")
    if max_age_days is not None and parsed < now - timedelta(days=max_age_days):
        raise BadValue("too_old")
    if parsed.year < 1970:
        raise BadValue("too_old", variant="1970")
    return parsed


def birth_date(value: str, *, today: date) -> date | None:
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise BadValue("invalid_date") from None
    if not date(1900, 1, 1) <= parsed <= today:
        raise BadValue("implausible_date")
    return parsed


def yes_no(value: str) -> bool | None:
    """yes/no (also true/false, 1/0, oui/non); empty: not stated."""
    lowered = value.lower()
    if not lowered:
        return None
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    raise BadValue("invalid_choice")


def whole_number(value: str, *, minimum: int = 0, maximum: int) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise BadValue("invalid_number")
    number = int(value)
    if not minimum <= number <= maximum:
        raise BadValue("out_of_range", min=minimum, max=maximum)
    return number
