"""Sending queued messages: the outbox (`loyalty.services.outbox`), the rules, the channels.

A message is written with its cause, unique per occasion (`queue`), and sent by
`attempt`: taken from its claim, then, under a per-member lock (PostgreSQL's
advisory lock, so that two workers cannot both pass a member's caps, without
blocking that member's purchases), checked against the rules just before
sending, sent, and marked sent at once. Held for the quiet hours, it waits in
the outbox until the morning; suppressed, it is recorded with its reason; a
channel failure is retried with backoff, then failed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from loyalty.models import Message
from loyalty.services.messaging import channels, rules
from loyalty.services.messaging.render import render
from loyalty.services.outbox import Outbox

Status = Message.Status
OUTBOX = Outbox(model=Message, open_statuses=(Status.QUEUED,),
                send_task="loyalty.tasks.send_messages",
                dispatch_task="loyalty.tasks.dispatch_messages")
MAX_FAILURES = 5  # then failed: 5 min, 10, 20, 40 apart
QUEUE_CHUNK = 1000
# Within a claim, the day's highest priorities go first (the caps keep the rest).
ORDER = ("next_attempt_at", "-priority", "id")


def _chunks(items: Iterable[Message], size: int) -> Iterator[list[Message]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def queue(messages: Iterable[Message], *, now: datetime | None = None,
          on_written: Callable[[list[Message]], object] | None = None) -> int:
    """Write messages (unsaved Message objects) due now, each occasion once however often
    this runs: an occasion already queued or sent is skipped. Taken 1,000 at a time, so
    a finder's stream never sits in memory whole. `on_written`, if given, is called with
    each chunk's messages written by this call, in the same transaction (a journey's
    offer goes with its message, or neither does). The dispatcher is woken when the
    caller's transaction commits. Returns how many were written."""
    now = now or timezone.now()
    written = 0
    with transaction.atomic():
        for chunk in _chunks(messages, QUEUE_CHUNK):
            for message in chunk:
                message.created_at = message.created_at or now
                message.next_attempt_at = message.next_attempt_at or now
            occasions = [message.occasion for message in chunk]
            before = set(Message.objects.filter(occasion__in=occasions)
                         .values_list("occasion", flat=True))
            Message.objects.bulk_create(chunk, ignore_conflicts=True)
            after = Message.objects.filter(occasion__in=occasions).count()
            written += after - len(before)
            if on_written is not None and after > len(before):
                # Another worker writing the same occasions at once may make both see them
                # as new: what on_written gives is idempotent on the occasion, too.
                on_written([message for message in chunk if message.occasion not in before])
        if written:
            OUTBOX.wake_dispatcher_on_commit()
    return written


def dispatch_due(*, now: datetime | None = None) -> int:
    """Hand due messages to workers (beat, every minute); how many were handed."""
    return OUTBOX.dispatch_due(now=now, order_by=ORDER)


def send_batch(*, message_ids: Iterable[int], claim: uuid.UUID | str) -> dict[str, int]:
    """Attempt each message of a claimed batch; how many ended in each outcome."""
    return dict(Counter(attempt(message_id=pk, claim=claim) for pk in message_ids))


def _member_lock(member_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A lock of the messaging's own (key space 7301), held to the commit.
            cursor.execute("SELECT pg_advisory_xact_lock(7301, %s)", [member_id % 2**31])


def attempt(*, message_id: int, claim: uuid.UUID | str, now: datetime | None = None) -> str:
    """Send one claimed message if the rules allow it now. Returns the outcome: sent,
    suppressed, held, retrying, failed or skipped (not this claim's to send)."""
    now = now or timezone.now()
    if not OUTBOX.take(pk=message_id, claim=claim, now=now):
        return "skipped"
    with transaction.atomic():
        message = Message.objects.select_related("member", "journey").get(pk=message_id)
        member = message.member
        _member_lock(member.pk)
        reason = rules.suppression(message, member, now=now)
        if reason:
            Message.objects.filter(pk=message_id).update(
                status=Status.SUPPRESSED, reason=reason, next_attempt_at=None)
            return "suppressed"
        morning = rules.quiet_until(message, now=now)
        if morning is not None:
            Message.objects.filter(pk=message_id).update(
                next_attempt_at=morning, reason=Message.Reason.QUIET_HOURS)
            return "held"
        rendered = render(message, member)
        try:
            channels.SENDERS[message.channel](message, member, rendered)
        except channels.SendFailed as error:
            failures = message.failures + 1
            failed = failures >= MAX_FAILURES
            retry_at = now + timedelta(minutes=5 * 2 ** (failures - 1))
            Message.objects.filter(pk=message_id).update(
                attempts=F("attempts") + 1, failures=failures, last_error=str(error)[:300],
                status=Status.FAILED if failed else Status.QUEUED,
                reason=Message.Reason.SEND_FAILED if failed else "",
                next_attempt_at=None if failed else retry_at)
            return "failed" if failed else "retrying"
        Message.objects.filter(pk=message_id).update(
            status=Status.SENT, sent_at=now, attempts=F("attempts") + 1, next_attempt_at=None,
            reason="", last_error="")
        return "sent"
