"""Money as the reader writes it: "€42.50" in English, "42,50 €" in French.

One function for every page, email and message (the `money` template filter in
loyalty/templatetags/money.py calls it). Numbers go through Django's localisation
(loyalty/formats); the currency is the programme's.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils import formats, translation

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
NBSP = "\xa0"


def programme_currency() -> str:
    from loyalty.services.earning import current_programme

    return current_programme().currency


def format_money(amount, currency: str | None = None) -> str:
    """`amount` (Decimal, int, str) with two decimals and its currency, in the active
    language's way; "" for no amount."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    currency = (currency or programme_currency()).upper()
    symbol = SYMBOLS.get(currency, currency)
    number = formats.number_format(abs(value), 2, use_l10n=True, force_grouping=True)
    sign = "-" if value < 0 else ""
    if (translation.get_language() or "en").split("-")[0] == "fr":
        return f"{sign}{number}{NBSP}{symbol}"
    if symbol == currency:  # no symbol: "CHF 42.50"
        return f"{sign}{currency}{NBSP}{number}"
    return f"{sign}{symbol}{number}"
