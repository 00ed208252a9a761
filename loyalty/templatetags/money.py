from django import template

from loyalty.money import format_money

register = template.Library()


@register.filter
def money(amount, currency=None):
    """{{ purchase.amount|money }}: "€42.50", "42,50 €" (loyalty/money.py)."""
    return format_money(amount, currency or None)
