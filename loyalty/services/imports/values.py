"""The values of an import file's cells: dates, times, yes/no, whole numbers, text.

Each parser returns the typed value or raises `BadValue` with a stable code
and a message for the person who fixes the file. A date or a time without
an offset is read in the programme's time zone (settings.TIME_ZONE): a shop's
export says "2024-03-01 18:30" meaning its own clock.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.services.errors import Invalid
from loyalty.services.members import normalise_email

YES = {"yes", "y", "true", "1", "oui", "o", "x"}
NO = {"no", "n", "false", "0", "non"}


class BadValue(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, str(message)
        super().__init__(self.message)


def from_invalid(error: Invalid, code: str) -> BadValue:
    """A core service's Invalid (parse_money, normalise_email, ...) as a cell error."""
    detail = next(iter(error.fields.values()), None) if error.fields else None
    return BadValue(code, str(detail or error.message))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def text(value: str, *, max_length: int = 100) -> str:
    if len(value) > max_length:
        raise BadValue("too_long", _("At most %(max)d characters.") % {"max": max_length})
    if _CONTROL.search(value):
        raise BadValue("invalid_text", _("Contains control characters."))
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
        raise BadValue("required", _("Required."))
    return text(value)


def local_datetime(value: str, *, now: datetime, max_age_days: int | None = 3650) -> datetime:
    """ISO 8601 date ("2024-03-01": midnight) or date and time, with or without an offset.

    Without an offset, the programme's time zone. Never after `now` (plus the tills'
    clock skew) nor, by default, more than ten years before it, as for purchases
    recorded live.
    """
    if not value:
        raise BadValue("required", _("Required."))
    try:
        if len(value) == 10:
            parsed = datetime.combine(date.fromisoformat(value), time())
        else:
            parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise BadValue("invalid_datetime", _(
            "Not a date or time in ISO 8601 form, such as 2024-03-01 or "
            "2024-03-01T18:30:00+01:00.")) from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    if parsed > now + settings.LOYALTY_CLOCK_SKEW:
        raise BadValue("in_future", _("In the future."))
    if max_age_days is not None and parsed < now - timedelta(days=max_age_days):
        raise BadValue("too_old", _("More than ten years ago."))
    if parsed.year < 1970:
        raise BadValue("too_old", _("Before 1970."))
    return parsed


def birth_date(value: str, *, today: date) -> date | None:
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise BadValue("invalid_date", _("Not a date in ISO 8601 form, such as 1980-06-21.")) \
            from None
    if not date(1900, 1, 1) <= parsed <= today:
        raise BadValue("implausible_date", _("Not a plausible birth date."))
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
    raise BadValue("invalid_choice", _("Write yes or no (or leave it empty)."))


def whole_number(value: str, *, minimum: int = 0, maximum: int) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise BadValue("invalid_number", _("A whole number, such as 250."))
    number = int(value)
    if not minimum <= number <= maximum:
        raise BadValue("out_of_range", _("From %(min)d to %(max)d.") % {
            "min": minimum, "max": maximum})
    return number
