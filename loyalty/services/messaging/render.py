"""What a message says: rendered when it is sent, in the member's language.

A message stores its context (numbers, dates, ids), never sentences. Its
text is the journey's own or the campaign's (typed by staff, in English and
French) or the built-in one (translated like the rest of the site), with a few variables
filled in. Staff-typed text is not a Django template: `{{ name }}` is the
only thing it can write, and only the names of VARIABLES are filled (anything
else renders empty), so a template cannot reach settings, other members or
run code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_date
from django.utils.translation import gettext, ngettext

from loyalty.models import Journey, Member, Message, Tier
from loyalty.services.messaging import offers, unsubscribe

VARIABLES = ("first_name", "points", "date", "tier", "reward", "balance", "card_link", "link",
             "voucher_code", "voucher_expiry", "offer")
# A message with an offer (a voucher, a next-purchase bonus) always says it: appended when its
# text names none of these.
OFFER_VARIABLES = ("offer", "voucher_code")
_PLACEHOLDER = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*}}")
Kind = Journey.Kind


def fill(text: str, values: dict[str, str]) -> str:
    """`{{ name }}` replaced by values[name] for the allowed names; anything else empty."""
    return _PLACEHOLDER.sub(
        lambda match: str(values.get(match.group(1), "")) if match.group(1) in VARIABLES
        else "", text)


def built_in(kind: str) -> tuple[str, str]:
    """The built-in subject and text of a journey, in the active language."""
    texts = {
        Kind.WELCOME: (gettext("Welcome, {{ first_name }}"), gettext(
            "Welcome to the programme, {{ first_name }}. Your card is on your phone: "
            "{{ card_link }}. Show it at the till or give its number online, and every "
            "purchase earns points.")),
        Kind.SECOND_PURCHASE: (gettext("See you again soon"), gettext(
            "Thank you for your first purchase, {{ first_name }}. You already have "
            "{{ balance }} points: your next purchase adds to them. {{ link }}")),
        Kind.BIRTHDAY: (gettext("Happy birthday, {{ first_name }}!"), gettext(
            "Happy birthday, {{ first_name }}! {{ points }} points are waiting for you "
            "today. {{ link }}")),
        Kind.POINTS_EXPIRING: (gettext("{{ points }} points expire on {{ date }}"), gettext(
            "{{ first_name }}, {{ points }} of your points expire on {{ date }}. Spend them "
            "on a reward before then: {{ link }}")),
        Kind.TIER_REACHED: (gettext("You reached {{ tier }}"), gettext(
            "Congratulations, {{ first_name }}: you are now {{ tier }}. {{ link }}")),
        Kind.TIER_AT_RISK: (gettext("Keep your {{ tier }} status"), gettext(
            "{{ first_name }}, earn {{ points }} more points by {{ date }} to keep your "
            "{{ tier }} status. {{ link }}")),
        Kind.REWARD_WITHIN_REACH: (gettext("{{ reward }} is within reach"), gettext(
            "{{ first_name }}, you are {{ points }} points from {{ reward }}. {{ link }}")),
        Kind.WIN_BACK: (gettext("We miss you, {{ first_name }}"), gettext(
            "It has been a while, {{ first_name }}. You have {{ balance }} points waiting "
            "for you. {{ link }}")),
        Kind.REVIEW_REQUEST: (gettext("How was your purchase?"), gettext(
            "{{ first_name }}, tell us what you thought of your purchase of {{ date }}: "
            "{{ link }}")),
    }
    return texts[kind]


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    language: str
    unsubscribe_url: str


def member_language(member: Member) -> str:
    languages = {code for code, _name in settings.LANGUAGES}
    return member.language if member.language in languages else settings.LANGUAGE_CODE


def absolute(path: str) -> str:
    return settings.LOYALTY_SITE_URL.rstrip("/") + path


def _date(value) -> str:
    day = parse_date(str(value)[:10]) if value else None
    return formats.date_format(day, "DATE_FORMAT") if isinstance(day, date) else ""


def values_for(message: Message, member: Member) -> dict[str, str]:
    """The variables, in the active language: numbers and dates formatted for it."""
    context = message.context or {}
    tier = Tier.objects.filter(pk=context.get("tier_id")).first() if context.get(
        "tier_id") else None
    reward = None
    if context.get("reward_id"):
        from rewards.models import Reward

        reward = Reward.objects.filter(pk=context["reward_id"]).first()
    link = absolute(context.get("path") or reverse("home"))
    voucher = offers.voucher_of(message)
    return {
        "voucher_code": voucher.formatted_code if voucher else "",
        "voucher_expiry": (formats.date_format(timezone.localdate(voucher.expires_at),
                                               "DATE_FORMAT") if voucher else ""),
        "offer": offer_sentence(context, voucher),
        "first_name": member.first_name or gettext("dear member"),
        "points": formats.number_format(context.get("points", 0), use_l10n=True,
                                        force_grouping=True),
        "balance": formats.number_format(member.balance, use_l10n=True, force_grouping=True),
        "date": _date(context.get("date")),
        "tier": tier.name if tier else "",
        "reward": getattr(reward, "name", "") if reward else "",
        "card_link": absolute(reverse("card")),
        "link": link,
    }


def offer_sentence(context: dict, voucher) -> str:
    """The offer a message brings, in a sentence of the active language; empty: none."""
    if voucher is not None:
        return gettext("Your voucher for %(reward)s: %(code)s, valid until %(date)s. Show it "
                       "at the till or enter it online.") % {
            "reward": voucher.reward.name, "code": voucher.formatted_code,
            "date": formats.date_format(timezone.localdate(voucher.expires_at), "DATE_FORMAT")}
    bonus = context.get("bonus")
    if not isinstance(bonus, dict):
        return ""
    count = int(bonus.get("points") or 0)
    values = {"date": _date(bonus.get("until")), "factor": _factor(bonus.get("factor")),
              "points": formats.number_format(count, use_l10n=True, force_grouping=True)}
    if bonus.get("factor") and count:
        return ngettext("Your next purchase by %(date)s earns points ×%(factor)s, and "
                        "%(points)s extra point.",
                        "Your next purchase by %(date)s earns points ×%(factor)s, and "
                        "%(points)s extra points.", count) % values
    if bonus.get("factor"):
        return gettext("Your next purchase by %(date)s earns points ×%(factor)s.") % values
    return ngettext("Your next purchase by %(date)s earns %(points)s extra point.",
                    "Your next purchase by %(date)s earns %(points)s extra points.",
                    count) % values


def _factor(raw) -> str:
    """A bonus factor as the reader writes numbers ("1.5", "1,5")."""
    try:
        return formats.localize(Decimal(str(raw)).normalize()) if raw else ""
    except InvalidOperation:
        return str(raw)


def _with_offer(text: str, offer: str) -> str:
    names = {match.group(1) for match in _PLACEHOLDER.finditer(text)}
    if offer and not names & set(OFFER_VARIABLES):
        return f"{text.rstrip()}\n\n{{{{ offer }}}}"
    return text


def render(message: Message, member: Member) -> Rendered:
    """The message's subject and text in the member's language."""
    language = member_language(member)
    with translation.override(language):
        campaign = message.campaign if message.campaign_id is not None else None
        subject, text = ("", "") if campaign is not None else built_in(message.kind)
        # A journey's text, or a campaign's (typed by staff, always given in English).
        journey = campaign or message.journey
        if journey is not None:
            typed_subject = (journey.subject_fr if language == "fr" else "") or journey.subject
            typed_text = (journey.body_fr if language == "fr" else "") or journey.body
            subject, text = typed_subject or subject, typed_text or text
        values = values_for(message, member)
        text = _with_offer(text, values["offer"])
        return Rendered(subject=fill(subject, values).strip(), text=fill(text, values).strip(),
                        language=language,
                        unsubscribe_url=absolute(unsubscribe.path_for(member_id=member.pk)))
