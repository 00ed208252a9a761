"""What an import error says, rendered when it is read, in the reader's language.

An error is stored as data (a stable code and a few JSON-safe params), never as a
sentence: a job rejected while its uploader read English shows its errors in French
to a French manager. `MESSAGES` is the one catalogue of the codes; a code with more
than one wording picks it with the param `variant` ("code.variant" here).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

MESSAGES = {
    # the file
    "line_too_long": gettext_lazy("This line is longer than %(max)d bytes."),
    "not_utf8": gettext_lazy(
        "The file is not UTF-8 text. Save it as \"CSV UTF-8\" and try again."),
    "binary": gettext_lazy("This is not a CSV text file."),
    "empty_file": gettext_lazy(
        "The file is empty: it needs a header row and then one row per line."),
    "malformed_csv": gettext_lazy(
        "This line is not valid CSV (%(problem)s): the rest of the file was not read."),
    "duplicate_column": gettext_lazy("This column appears twice in the header."),
    "missing_columns": gettext_lazy(
        "The header lacks the columns %(columns)s (it needs %(required)s)."),
    "column_count": gettext_lazy(
        "Expected %(expected)d values as in the header, found %(found)d."),
    # one value
    "required": gettext_lazy("Required."),
    "too_long": gettext_lazy("At most %(max)d characters."),
    "invalid_text": gettext_lazy("Contains control characters."),
    "invalid_email": gettext_lazy("Not a valid email address."),
    "invalid_phone": gettext_lazy("Not a valid phone number."),
    "invalid_amount": gettext_lazy(
        "Not a valid amount: a positive number with at most two decimals, such as 49.90, "
        "up to %(max)s."),
    "invalid_datetime": gettext_lazy(
        "Not a date or time in ISO 8601 form, such as 2024-03-01 or "
        "2024-03-01T18:30:00+01:00."),
    "in_future": gettext_lazy("In the future."),
    "too_old": gettext_lazy("More than ten years ago."),
    "too_old.1970": gettext_lazy("Before 1970."),
    "invalid_date": gettext_lazy("Not a date in ISO 8601 form, such as 1980-06-21."),
    "implausible_date": gettext_lazy("Not a plausible birth date."),
    "invalid_choice": gettext_lazy("Write yes or no (or leave it empty)."),
    "invalid_number": gettext_lazy("A whole number, such as 250."),
    "out_of_range": gettext_lazy("From %(min)d to %(max)d."),
    # purchases
    "sku_required": gettext_lazy("A quantity or category needs a sku."),
    "uneven_split": gettext_lazy(
        "%(amount)s cannot be split into %(quantity)d equal unit prices: give one row per "
        "price."),
    "customer_ambiguous": gettext_lazy(
        "%(ref)s is the customer_ref of %(count)d different members in other stores: add it "
        "to the right member in this store first."),
    "member_closed": gettext_lazy("This matches a closed member."),
    "member_closed.ref": gettext_lazy("The member with customer_ref %(ref)s is closed."),
    "order_conflict": gettext_lazy(
        "Order %(order)s is already recorded for this store with another customer or amount "
        "(%(amount)s)."),
    "order_too_large": gettext_lazy(
        "The lines of order %(order)s add up to more than %(max)s."),
    "order_mismatch": gettext_lazy("Order %(order)s has another %(column)s on line %(line)d."),
    # members
    "consent_value_required": gettext_lazy("A consent date needs yes or no."),
    "consent_date_required": gettext_lazy(
        "A consent needs the date it was given: it is never invented."),
    "no_identity": gettext_lazy("A row needs a customer_ref, an email or a phone."),
    "member_ambiguous": gettext_lazy(
        "Matches two different members: card %(first)s by %(first_column)s and card "
        "%(second)s by %(second_column)s. Merge them first, or correct the row."),
    "duplicate_balance": gettext_lazy(
        "This member already gets an opening balance from line %(line)s."),
    "member_exists": gettext_lazy("A member with this email, phone or customer_ref exists."),
    # the job
    "failed": gettext_lazy("The import failed: nothing of it was written."),
    "failed.stopped": gettext_lazy("The import stopped %(count)d times: it was given up."),
    "failed.given_up": gettext_lazy(
        "The import failed %(count)d times: it was given up. Nothing of it was written."),
}


def render(code: str, params: dict | None = None) -> str:
    """The message of an error's code and params, in the active language."""
    params = params or {}
    variant = params.get("variant")
    message = (MESSAGES.get(f"{code}.{variant}") if variant else None) or MESSAGES.get(code)
    if message is None:
        detail = params.get("detail")
        return (_("This row could not be imported (%(code)s: %(detail)s).") % {
            "code": code, "detail": detail} if detail else
            _("This row could not be imported (%(code)s).") % {"code": code})
    try:
        return str(message) % params
    except (KeyError, TypeError, ValueError):  # params from an older version of the code
        return str(message)
