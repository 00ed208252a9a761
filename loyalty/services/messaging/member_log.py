"""A member's own messages, as their profile page shows them (a read-only selector).

The messages sent to the member, latest first, each subject and text rendered now
in the member's language (a message stores its context, never sentences), and how
many were held back by their consent choices, which the page shows beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.models import Member, Message
from loyalty.services.messaging import render

SHOWN = 20


@dataclass(frozen=True)
class LoggedMessage:
    message: Message
    subject: str
    text: str


@dataclass(frozen=True)
class MemberLog:
    messages: tuple[LoggedMessage, ...]
    held_back: int  # never sent: the member had not agreed to offers on that channel


def member_log(*, member: Member, limit: int = SHOWN) -> MemberLog:
    """The member's latest sent messages (at most `limit`) and how many of theirs their
    consent choices held back. A fixed number of queries per message shown (its tier or
    reward, when it names one), whatever the member's history."""
    sent = (Message.objects.filter(member=member, status=Message.Status.SENT)
            .select_related("journey").order_by("-sent_at", "-id")[:limit])
    shown = []
    for message in sent:
        rendered = render.render(message, member)
        shown.append(LoggedMessage(message=message, subject=rendered.subject,
                                   text=rendered.text))
    held_back = Message.objects.filter(member=member, status=Message.Status.SUPPRESSED,
                                       reason=Message.Reason.NO_CONSENT).count()
    return MemberLog(messages=tuple(shown), held_back=held_back)
