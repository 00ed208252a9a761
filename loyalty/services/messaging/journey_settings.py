"""Managers tune a journey: its switch, channel, purpose, timing and texts; they preview
its message on a real member and send themselves a test.

A journey's texts are not templates: only `{{ name }}` for the names of
`render.VARIABLES` is filled in. `update_journey` refuses anything else (an unknown
name, a dotted path, a template tag) with a clear error naming the allowed
variables, so that what a manager saves is what members read. A preview or a test
renders an unsaved message with a plausible context for the journey's kind; the
test goes to the manager's own address, never to the member.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta

from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.models import ActionRule, Card, Journey, Member, Message, Tier
from loyalty.services.cards import normalise_card_number
from loyalty.services.errors import DomainError, Invalid, NotFound
from loyalty.services.messaging import render

Kind = Journey.Kind
TEXT_FIELDS = ("subject", "body", "subject_fr", "body_fr")
SETTINGS_FIELDS = ("active", "channel", "purpose", "priority", "days", "points_within")
# A journey's offer: only the journey named may have it (Journey.clean).
OFFER_FIELDS = {Kind.WIN_BACK: ("voucher_reward", "voucher_days"),
                Kind.SECOND_PURCHASE: ("bonus_factor", "bonus_points", "bonus_days")}
EDITABLE = (*SETTINGS_FIELDS, *TEXT_FIELDS,
            *(name for names in OFFER_FIELDS.values() for name in names))


def editable_fields(kind: str) -> tuple[str, ...]:
    """What a manager may set on this journey: its settings, texts and its own offer."""
    return (*SETTINGS_FIELDS, *OFFER_FIELDS.get(kind, ()), *TEXT_FIELDS)
_BRACES = re.compile(r"{{(.*?)}}", re.DOTALL)
SAMPLE_POINTS = 100
SAMPLE_BALANCE = 1234


class TestNotSent(DomainError):
    code = "test_not_sent"
    status = 502
    default_message = _("The test message could not be sent.")


def allowed_variables() -> str:
    return ", ".join(f"{{{{ {name} }}}}" for name in render.VARIABLES)


def text_problem(text: str) -> str | None:
    """What is wrong with a journey's text, in words for the manager; None if it is fine."""
    if "{%" in text or "{#" in text:
        return gettext("Template tags ({%% … %%}) and comments ({# … #}) are not allowed. "
                       "Use only these variables: %(allowed)s.") % {
            "allowed": allowed_variables()}
    names = [inner.strip() for inner in _BRACES.findall(text)]
    unknown = sorted({name or "{{ }}" for name in names if name not in render.VARIABLES})
    if unknown:
        return gettext("Unknown variables: %(unknown)s. Use only these: %(allowed)s.") % {
            "unknown": ", ".join(unknown), "allowed": allowed_variables()}
    if text.count("{{") != len(names) or text.count("}}") != len(names):
        return gettext("A variable is not closed: write it as {{ first_name }}. Use only "
                       "these: %(allowed)s.") % {"allowed": allowed_variables()}
    return None


def check_texts(texts: dict[str, str]) -> None:
    """Raises Invalid, with a message per field, unless every text uses only the variables."""
    problems = {field: problem for field, text in texts.items()
                if field in TEXT_FIELDS and (problem := text_problem(text or ""))}
    if problems:
        raise Invalid(gettext("Check the texts: only the listed variables can be used."),
                      fields=problems)


def update_journey(*, kind: str, by, **fields) -> Journey:
    """Change a journey's settings, offer and texts (any of `editable_fields(kind)`: the
    win-back's voucher, the second purchase's next-purchase bonus), logged in the admin's history
    under `by`. Raises NotFound for an unknown kind, Invalid for an unknown field, a value
    out of range or a text using anything but the variables; nothing is saved then."""
    unknown = sorted(set(fields) - set(editable_fields(kind)))
    if unknown:
        raise Invalid(fields={name: "not a setting of this journey" for name in unknown})
    check_texts(fields)
    with transaction.atomic():
        journey = Journey.objects.select_for_update().filter(kind=kind).first()
        if journey is None:
            raise NotFound(fields={"kind": "no such journey"})
        changed = [name for name, value in fields.items() if getattr(journey, name) != value]
        for name, value in fields.items():
            setattr(journey, name, value)
        try:
            journey.full_clean(validate_unique=False)
        except ValidationError as error:
            raise Invalid(fields={name: " ".join(str(m) for m in messages)
                                  for name, messages in error.message_dict.items()}) from None
        if changed:
            journey.save(update_fields=changed)
            if getattr(by, "pk", None):
                LogEntry.objects.log_actions(
                    user_id=by.pk, queryset=[journey], action_flag=CHANGE,
                    change_message=[{"changed": {"fields": [
                        str(Journey._meta.get_field(name).verbose_name) for name in changed]}}],
                    single_object=True)
    return journey


# --- preview and test -------------------------------------------------------------------------


def member_by_card(number: str) -> Member | None:
    """The active member holding this card number (their own or one of their cards)."""
    number = normalise_card_number(number or "")
    if not number or len(number) > 32:
        return None
    return (Member.objects.filter(Q(card_number=number) | Q(
        pk__in=Card.objects.filter(number=number).values("member_id")),
        status=Member.Status.ACTIVE).select_related("tier").first())


def sample_member(*, first_name: str = "", language: str = "") -> Member:
    """A member who does not exist, for a preview without a card number (pk 0: never saved)."""
    return Member(pk=0, first_name=first_name or "Camille", balance=SAMPLE_BALANCE,
                  language=language or translation.get_language() or "en")


def sample_context(journey: Journey, member: Member, *, now: datetime) -> dict:
    """A plausible context for the journey's kind, like the one its finder would give."""
    from rewards.models import Reward

    today = timezone.localdate(now)
    context: dict = {"path": reverse("rewards:catalogue")}
    if journey.kind == Kind.WELCOME:
        context["path"] = reverse("card")
    elif journey.kind == Kind.BIRTHDAY:
        rule = ActionRule.objects.filter(event_type="birthday", active=True).first()
        context["points"] = rule.points if rule else SAMPLE_POINTS
    elif journey.kind in (Kind.POINTS_EXPIRING, Kind.TIER_AT_RISK):
        context.update(points=min(max(member.balance, 1), SAMPLE_POINTS) if journey.kind ==
                       Kind.POINTS_EXPIRING else SAMPLE_POINTS,
                       date=(today + timedelta(days=journey.days)).isoformat())
    elif journey.kind == Kind.REVIEW_REQUEST:
        context.update(date=today.isoformat(), path=reverse("history"))
    if journey.kind in (Kind.TIER_REACHED, Kind.TIER_AT_RISK):
        tier = (Tier.objects.filter(pk=member.tier_id).first() if member.tier_id else None) \
            or Tier.objects.order_by("rank").first()
        context.update(tier_id=tier.pk if tier else None, path=reverse("home"))
    if journey.gives_bonus or journey.gives_voucher:  # a sample voucher, the bonus's terms
        from loyalty.services.messaging.offers import context_for

        context.update(context_for(journey, now))
    if journey.kind == Kind.REWARD_WITHIN_REACH:
        rewards = Reward.objects.filter(active=True).exclude(available_until__lte=now)
        reward = (rewards.filter(points_cost__gt=member.balance).order_by("points_cost").first()
                  or rewards.order_by("points_cost").first())
        if reward is not None:
            context.update(reward_id=reward.pk,
                           points=max(reward.points_cost - member.balance, 1))
    return context


def preview(*, kind: str, member: Member | None = None, draft: dict[str, str] | None = None,
            language: str = "", now: datetime | None = None) -> render.Rendered:
    """The journey's message for `member` (else a sample member in `language`), with the
    draft texts in place of the saved ones, rendered as it would be sent: in the member's
    language, only the variables filled. Nothing is saved. Its unsubscribe link is the
    profile page's: a preview or a test must not carry the member's one-click link."""
    journey = Journey.objects.filter(kind=kind).first()
    if journey is None:
        raise NotFound(fields={"kind": "no such journey"})
    for name, value in (draft or {}).items():
        if name in TEXT_FIELDS:
            setattr(journey, name, value or "")
    member = member or sample_member(language=language)
    message = Message(member=member if member.pk else None, journey=journey, kind=journey.kind,
                      channel=journey.channel, purpose=journey.purpose,
                      context=sample_context(journey, member, now=now or timezone.now()))
    rendered = render.render(message, member)
    return dataclasses.replace(rendered, unsubscribe_url=render.absolute(reverse("profile")))


def send_test(*, kind: str, to_user, member: Member | None = None,
              draft: dict[str, str] | None = None, now: datetime | None = None
              ) -> render.Rendered:
    """Email the journey's message (as `preview` renders it) to `to_user`'s own address,
    whatever the journey's channel, never to the member. Raises Invalid for draft texts
    using anything but the variables or a user without an email address, TestNotSent when
    the mail server refuses."""
    check_texts(draft or {})
    address = (getattr(to_user, "email", "") or "").strip()
    if not address:
        raise Invalid(gettext("Your account has no email address to send the test to."),
                      fields={"to_user": "no email address"})
    rendered = preview(kind=kind, member=member, draft=draft, now=now,
                       language=translation.get_language() or "")
    with translation.override(rendered.language):
        subject = gettext("[Test] %(subject)s") % {"subject": rendered.subject}
        context = {"rendered": rendered, "member": member}
        text = render_to_string("emails/message.txt", context)
        html = render_to_string("emails/message.html", context)
    email = EmailMultiAlternatives(subject=subject, body=text, to=[address],
                                   headers={"X-Loyalty-Test": kind})
    email.attach_alternative(html, "text/html")
    try:
        email.send()
    except Exception as error:  # SMTP or a provider's API: say so, nothing was written
        raise TestNotSent(fields={"email": type(error).__name__}) from error
    return rendered
