"""Whether a message may go now: consent, frequency caps, quiet hours, a live member, an
address that does not bounce.

Checked just before sending (not only when queued): a consent withdrawn since,
a member erased since, is obeyed. Service messages (a journey's choice) need
no marketing consent and are neither capped nor held.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext

from loyalty.models import Channel, Member, Message, Purpose
from loyalty.services.messaging import bounces

Reason = Message.Reason


def suppression(message: Message, member: Member, *, now: datetime) -> str | None:
    """Why the message must not be sent (a Message.Reason), or None if it may go."""
    if not member.is_active:
        return Reason.ERASED
    if message.journey_id is not None and not message.journey.active:
        return Reason.JOURNEY_OFF
    if message.channel == Channel.EMAIL and not member.email:
        return Reason.NO_ADDRESS
    if message.channel == Channel.EMAIL and bounces.undeliverable(member.email):
        return Reason.BOUNCED  # the provider said it bounces, or its owner complained
    if message.channel == Channel.SMS and not member.phone:
        return Reason.NO_ADDRESS
    if message.purpose != Purpose.MARKETING:
        return None
    consented = member.sms_marketing if message.channel == Channel.SMS else member.email_marketing
    if not consented:
        return Reason.NO_CONSENT
    sent = Message.objects.filter(member=member, purpose=Purpose.MARKETING,
                                  status=Message.Status.SENT).exclude(pk=message.pk)
    week = sent.filter(sent_at__gt=now - timedelta(days=7)).count()
    if week >= settings.LOYALTY_MARKETING_PER_WEEK:
        return Reason.CAPPED
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if sent.filter(sent_at__gte=today).count() >= settings.LOYALTY_MARKETING_PER_DAY:
        return Reason.CAPPED
    return None


def quiet_until(message: Message, *, now: datetime) -> datetime | None:
    """When a marketing message sent `now` falls in the quiet hours, the local morning it
    is held until; None otherwise."""
    if message.purpose != Purpose.MARKETING:
        return None
    start, end = settings.LOYALTY_QUIET_HOURS
    if start == end:
        return None
    local = timezone.localtime(now)
    hour = local.hour + local.minute / 60
    quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return None
    morning = local.date() if hour < end else local.date() + timedelta(days=1)
    return timezone.make_aware(datetime.combine(morning, time(hour=int(end))))


def frequency_promise() -> str:
    """How often marketing messages may come, said from the caps that enforce it
    (LOYALTY_MARKETING_PER_WEEK, _PER_DAY, LOYALTY_QUIET_HOURS), so that what the sign-up
    and the till promise cannot disagree with what is sent: "at most 2 messages a week,
    1 a day, none between 21:00 and 08:00"."""
    week, day = settings.LOYALTY_MARKETING_PER_WEEK, settings.LOYALTY_MARKETING_PER_DAY
    parts = [ngettext("at most %(count)s message a week", "at most %(count)s messages a week",
                      week) % {"count": week}]
    if day < week:
        parts.append(ngettext("%(count)s a day", "%(count)s a day", day) % {"count": day})
    start, end = settings.LOYALTY_QUIET_HOURS
    if start != end:
        parts.append(gettext("none between %(start)s and %(end)s") % {
            "start": formats.time_format(time(start % 24), "TIME_FORMAT"),
            "end": formats.time_format(time(end % 24), "TIME_FORMAT")})
    return ", ".join(parts)
