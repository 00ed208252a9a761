"""Selector: the public "ways to earn", written from the points scale's own numbers.

Each sentence is built with gettext/ngettext from what the rule *does* (its points, factor,
dates, store, channel, category, caps), so it cannot disagree with the rule. The rule's
name, typed by staff, is only ever a title above the sentence. What has ended is not shown;
what has not started yet is shown with its dates and marked `upcoming`. Rules of a closed
(inactive) store are hidden, and so are campaign offers (only a campaign's sent group earns
them: they are not the programme's public promise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import dates, formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from loyalty.models import ActionRule, EarningRule, Multiplier, Programme, Tier

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


@dataclass(frozen=True)
class WayToEarn:
    kind: str  # "spend", "multiplier", "tier", "action", "cap"
    title: str  # the rule's name as staff typed it: a heading, never the promise itself
    text: str  # the promise, generated from the rule's numbers
    upcoming: bool = False


def ways_to_earn(*, now: datetime | None = None) -> list[WayToEarn]:
    """What a visitor may read about earning points today, in the active language."""
    now = now or timezone.now()
    programme = Programme.load()
    currency = programme.currency
    current = (Q(active=True) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))
               & (Q(store__isnull=True) | Q(store__active=True)))
    ways = []
    for rule in (EarningRule.objects.filter(current).select_related("store")
                 .order_by("-priority", "id")):
        ways.append(WayToEarn("spend", rule.name, describe_earning_rule(rule, currency=currency,
                                                                        now=now),
                              _upcoming(rule, now)))
    for multiplier in (Multiplier.objects.filter(current, campaign__isnull=True)
                       .select_related("store", "tier").order_by("-priority", "id")):
        ways.append(WayToEarn("multiplier", multiplier.name,
                              describe_multiplier(multiplier, currency=currency, now=now),
                              _upcoming(multiplier, now)))
    for tier in Tier.objects.filter(earn_multiplier__gt=1).order_by("rank"):
        ways.append(WayToEarn("tier", tier.name, describe_tier_bonus(tier)))
    for action in ActionRule.objects.filter(active=True, points__gt=0).order_by("event_type"):
        ways.append(WayToEarn("action", action.name, describe_action_rule(action)))
    ways += [WayToEarn("cap", _("Limits"), text) for text in describe_caps(programme)]
    return ways


def describe_scale(*, now: datetime | None = None) -> list[str]:
    """The ways to earn as plain sentences (the API's `earning`)."""
    return [way.text for way in ways_to_earn(now=now)]


# --- one sentence per kind of rule ------------------------------------------------------------


def describe_earning_rule(rule: EarningRule, *, currency: str, now: datetime) -> str:
    per_unit = rule.points_per_unit
    if per_unit <= 0:
        base = _("no points")
    elif per_unit < 1 and (1 / per_unit) == (1 / per_unit).to_integral_value():
        # 0.1 point per euro reads better as 1 point per €10.
        base = _("1 point per %(amount)s spent") % {
            "amount": money(1 / per_unit, currency)}
    else:
        base = ngettext("%(points)s point per %(amount)s spent",
                        "%(points)s points per %(amount)s spent", _plural(per_unit)) % {
            "points": number(per_unit), "amount": money(1, currency)}
    extra = []
    if rule.min_basket:
        extra.append(_("on baskets of %(amount)s or more") % {
            "amount": money(rule.min_basket, currency)})
    if rule.max_points is not None:
        extra.append(ngettext("up to %(count)s point per purchase",
                              "up to %(count)s points per purchase", rule.max_points)
                     % {"count": number(rule.max_points)})
    return _sentence(base, rule, now=now, extra=extra)


def describe_multiplier(multiplier: Multiplier, *, currency: str, now: datetime) -> str:
    base = _("×%(factor)s points") % {"factor": number(multiplier.factor)}
    extra = []
    if multiplier.tier_id:
        extra.append(_("for %(tier)s members") % {"tier": multiplier.tier.name})
    return _sentence(base, multiplier, now=now, extra=extra)


def describe_tier_bonus(tier: Tier) -> str:
    return _sentence(_("×%(factor)s points on purchases for %(tier)s members") % {
        "factor": number(tier.earn_multiplier), "tier": tier.name}, None)


# The actions the programme knows, said in words; any other one reads "N points" under its
# name (the title).
def _action_phrase(event_type: str, points: int) -> str:
    phrases = {
        "account_created": ngettext("%(count)s point for joining",
                                    "%(count)s points for joining", points),
        "newsletter_signup": ngettext("%(count)s point for signing up to our emails",
                                      "%(count)s points for signing up to our emails", points),
        "review_posted": ngettext("%(count)s point for a review",
                                  "%(count)s points for a review", points),
        "referral": ngettext("%(count)s point for each friend you invite, after their first "
                             "purchase",
                             "%(count)s points for each friend you invite, after their first "
                             "purchase", points),
        "birthday": ngettext("%(count)s point on your birthday",
                             "%(count)s points on your birthday", points),
    }
    phrase = phrases.get(event_type) or ngettext("%(count)s point", "%(count)s points", points)
    return phrase % {"count": number(points)}


def _limit_phrase(count: int, period: str) -> str:
    if period == ActionRule.Period.DAY:
        return ngettext("once a day", "up to %(count)s times a day", count)
    if period == ActionRule.Period.WEEK:
        return ngettext("once a week", "up to %(count)s times a week", count)
    if period == ActionRule.Period.MONTH:
        return ngettext("once a month", "up to %(count)s times a month", count)
    if period == ActionRule.Period.YEAR:
        return ngettext("once a year", "up to %(count)s times a year", count)
    return ngettext("once only", "up to %(count)s times in all", count)


def describe_action_rule(action: ActionRule) -> str:
    parts = [_action_phrase(action.event_type, action.points)]
    if action.event_type == "review_posted":
        parts.append(_("once per purchase"))  # a purchase has one review (the model's rule)
    if action.limit_count is not None:
        parts.append(_limit_phrase(action.limit_count, action.limit_period)
                     % {"count": number(action.limit_count)})
    return _capitalised(", ".join(parts))


def describe_caps(programme: Programme) -> list[str]:
    caps = []
    if programme.max_points_per_purchase is not None:
        count = programme.max_points_per_purchase
        caps.append(ngettext("Capped at %(count)s point per purchase",
                             "Capped at %(count)s points per purchase", count)
                    % {"count": number(count)})
    if programme.max_points_per_day is not None:
        count = programme.max_points_per_day
        caps.append(ngettext("Capped at %(count)s point a day",
                             "Capped at %(count)s points a day", count)
                    % {"count": number(count)})
    return caps


# --- the shared parts ------------------------------------------------------------------------


def _sentence(base: str, rule, *, now: datetime | None = None, extra=()) -> str:
    """`base` "on <category>", then the conditions, comma-separated: "×2 points on Shoes,
    20–30 Nov, online only"."""
    if rule is None:
        return _capitalised(base)
    if rule.sku:
        base = _("%(base)s on item %(sku)s") % {"base": base, "sku": rule.sku}
    elif rule.category:
        base = _("%(base)s on %(category)s") % {"base": base, "category": rule.category}
    parts = [base, *extra]
    when = _dates(rule.starts_at, rule.ends_at, now=now)
    if when:
        parts.append(when)
    if rule.weekdays:
        names = [str(dates.WEEKDAYS[int(day) - 1]) for day in sorted(set(rule.weekdays))]
        parts.append(_("on %(days)s only") % {"days": ", ".join(names)})
    if rule.store_id:
        parts.append(_("at %(store)s") % {"store": rule.store.name})
    if rule.channel == "online":
        parts.append(_("online only"))
    elif rule.channel == "in_store":
        parts.append(_("in store only"))
    return _capitalised(", ".join(parts))


def _dates(starts_at, ends_at, *, now) -> str:
    """"20–30 Nov.", "from 20 Nov.", "until 30 Nov." (the end is excluded: its last day)."""
    year = timezone.localtime(now).year
    start = timezone.localtime(starts_at).date() if starts_at else None
    # The end is excluded: a rule "until 1 Dec 00:00" runs through 30 Nov.
    last = timezone.localtime(ends_at - timedelta(microseconds=1)).date() if ends_at else None
    shown = [day for day in (start, last) if day is not None]
    with_year = any(day.year != year for day in shown)

    def day_format(day):
        return formats.date_format(day, "j N Y" if with_year else "j N")

    if start and last:
        if start == last:
            return day_format(start)
        if start.year == last.year and start.month == last.month:
            first = str(start.day)
        else:
            first = day_format(start)
        return _("%(start)s–%(end)s") % {"start": first, "end": day_format(last)}
    if start:
        return _("from %(date)s") % {"date": day_format(start)}
    if last:
        return _("until %(date)s") % {"date": day_format(last)}
    return ""


def _upcoming(rule, now: datetime) -> bool:
    return rule.starts_at is not None and rule.starts_at > now


def _plural(value: Decimal) -> int:
    """The count that picks a plural form: fractions read as plurals ("1.5 points")."""
    return int(value) if value == value.to_integral_value() else 2


def number(value) -> str:
    """A number as the active language writes it, without useless decimals."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return formats.number_format(int(value), use_l10n=True, force_grouping=True)
    return formats.number_format(value.normalize(), use_l10n=True)


def money(amount, currency: str) -> str:
    amount = Decimal(amount)
    digits = 0 if amount == amount.to_integral_value() else 2
    shown = formats.number_format(amount, digits, use_l10n=True, force_grouping=True)
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        return f"{shown} {currency}"
    # Translators: a sum of money; French puts the symbol after: "%(amount)s %(symbol)s".
    return pgettext("money", "%(symbol)s%(amount)s") % {"symbol": symbol, "amount": shown}


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
