"""What the journeys did lately: read-only figures for the managers' messages page.

One aggregate query for every journey, however many messages there are: the
messages written in the window (by `created_at`, when the journey fired),
counted by status and by the reason they were not sent, and the conversion, the
share of the members sent a message who bought within `CONVERSION_DAYS` after it
(an EXISTS on their purchases, never a loop over messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    When,
)
from django.utils import timezone

from loyalty.models import Journey, Message, Purchase

WINDOW_DAYS = 30
CONVERSION_DAYS = 7
Status, Reason = Message.Status, Message.Reason
# The reasons a message ends suppressed (quiet hours only delay it; a send failure fails it).
SUPPRESSION_REASONS = tuple(reason for reason in Reason
                            if reason not in (Reason.QUIET_HOURS, Reason.SEND_FAILED))


@dataclass(frozen=True)
class Suppressed:
    reason: str
    label: str
    count: int


@dataclass(frozen=True)
class JourneyFigures:
    journey: Journey
    queued: int
    held: int  # of the queued: waiting for the end of the quiet hours
    sent: int
    failed: int
    suppressed: tuple[Suppressed, ...]  # the reasons that happened, most frequent first
    members_sent: int
    members_converted: int

    @property
    def suppressed_total(self) -> int:
        return sum(item.count for item in self.suppressed)

    @property
    def conversion(self) -> Decimal | None:
        """Percent of the members sent a message who bought within the days after it."""
        if not self.members_sent:
            return None
        return (Decimal(100 * self.members_converted) / self.members_sent).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP)


def _bought_after() -> Exists:
    until = ExpressionWrapper(OuterRef("sent_at") + timedelta(days=CONVERSION_DAYS),
                              output_field=DateTimeField())
    return Exists(Purchase.objects.filter(member_id=OuterRef("member_id"),
                                          occurred_at__gt=OuterRef("sent_at"),
                                          occurred_at__lte=until))


def journey_figures(*, now: datetime | None = None,
                    days: int = WINDOW_DAYS) -> list[JourneyFigures]:
    """Every journey (active or not, in the journeys' order) with what its messages of the
    last `days` days became. Two queries whatever the number of messages."""
    now = now or timezone.now()
    sent = Q(status=Status.SENT)
    counts = {
        "queued": Count("pk", filter=Q(status=Status.QUEUED)),
        "held": Count("pk", filter=Q(status=Status.QUEUED, reason=Reason.QUIET_HOURS)),
        "sent": Count("pk", filter=sent),
        "failed": Count("pk", filter=Q(status=Status.FAILED)),
        "members_sent": Count("member_id", filter=sent, distinct=True),
        # CASE keeps the EXISTS to the sent rows; a member converted by any of them counts once.
        "members_converted": Count(Case(When(sent & Q(_bought_after()), then=F("member_id"))),
                                   distinct=True),
        **{f"suppressed_{reason}": Count("pk", filter=Q(status=Status.SUPPRESSED,
                                                         reason=reason))
           for reason in SUPPRESSION_REASONS},
    }
    rows = {row["kind"]: row for row in (
        Message.objects.filter(created_at__gt=now - timedelta(days=days), created_at__lte=now)
        .values("kind").annotate(**counts).order_by())}
    figures = []
    for journey in Journey.objects.all():
        row = rows.get(journey.kind, {})
        suppressed = sorted(
            (Suppressed(reason=reason, label=str(Reason(reason).label),
                        count=row.get(f"suppressed_{reason}", 0))
             for reason in SUPPRESSION_REASONS if row.get(f"suppressed_{reason}")),
            key=lambda item: -item.count)
        figures.append(JourneyFigures(
            journey=journey, queued=row.get("queued", 0), held=row.get("held", 0),
            sent=row.get("sent", 0), failed=row.get("failed", 0), suppressed=tuple(suppressed),
            members_sent=row.get("members_sent", 0),
            members_converted=row.get("members_converted", 0)))
    return figures
