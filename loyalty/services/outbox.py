"""A durable outbox: rows that are their own schedule, sent by workers, swept by beat.

Webhook deliveries and members' messages are both sent this way. Each row is
written in the same transaction as its cause and is due at its
`next_attempt_at`. Whoever sends claims first: `claim_due` takes due rows with
`SELECT … FOR UPDATE SKIP LOCKED`, gives them a claim (a uuid) and pushes
their due time a lease ahead, and `hand_over` gives the batch to a worker's
task by name. The worker takes each row from the claim just before sending it
(`take`, a compare-and-set on the claim that renews the lease), so a batch
handed out twice, or redelivered by the broker, sends each row once, and each
row is marked as soon as it is sent, not at the end of its batch. A hand-over
lost with the broker, a worker killed mid-batch, leave rows whose lease runs
out: they are due again, and the dispatcher (`dispatch_due`, from beat every
minute) hands them over. The only row that can be sent twice is the one in
flight when its worker died.

A model using it has `status`, `next_attempt_at` (indexed where open) and
`claim` (a nullable uuid).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from loyalty.services.handoff import run_task


def lease() -> timedelta:
    """How long a claimed row is its holder's before it is due again. Each attempt renews
    it, so it only has to outlast one send (a webhook's POST times out after 5 s)."""
    return timedelta(seconds=max(settings.LOYALTY_OUTBOX_LEASE_SECONDS, 10))


@dataclass(frozen=True)
class Outbox:
    model: type[models.Model]
    open_statuses: tuple[str, ...]
    send_task: str  # takes (ids, claim)
    dispatch_task: str  # takes nothing
    batch: int = 50  # rows per worker task
    claim_size: int = 500  # rows claimed per transaction by the dispatcher
    dispatch_claims: int = 200  # claims per dispatcher run at most

    def new_claim(self, *, now: datetime | None = None) -> tuple[uuid.UUID, datetime]:
        """A claim for rows about to be written and handed over: (claim, due again at)."""
        return uuid.uuid4(), (now or timezone.now()) + lease()

    def hand_over(self, *, ids: list[int], claim: uuid.UUID) -> bool:
        """Give claimed rows to workers, `batch` at a time. False if the broker refused."""
        for start in range(0, len(ids), self.batch):
            if not run_task(self.send_task, ids[start:start + self.batch], str(claim)):
                return False
        return True

    def hand_over_on_commit(self, *, ids: list[int], claim: uuid.UUID) -> None:
        """Hand the rows over once the current transaction commits (never if it rolls back)."""
        if ids:
            ids = list(ids)
            transaction.on_commit(lambda: self.hand_over(ids=ids, claim=claim))

    def wake_dispatcher_on_commit(self) -> None:
        """Rows were written due now: send them without waiting for beat."""
        transaction.on_commit(lambda: run_task(self.dispatch_task))

    def claim_due(self, *, limit: int | None = None, now: datetime | None = None,
                  order_by: tuple[str, ...] = ("next_attempt_at",)
                  ) -> tuple[list[int], uuid.UUID]:
        """Claim up to `limit` due rows, oldest due first, skipping rows another dispatcher
        holds. Returns their ids and the claim."""
        now = now or timezone.now()
        claim, until = self.new_claim(now=now)
        with transaction.atomic():
            ids = list(self.model.objects
                       .filter(status__in=self.open_statuses, next_attempt_at__lte=now)
                       .order_by(*order_by)
                       .select_for_update(skip_locked=True)
                       .values_list("pk", flat=True)[:limit or self.batch])
            if ids:
                self.model.objects.filter(pk__in=ids).update(claim=claim, next_attempt_at=until)
        return ids, claim

    def dispatch_due(self, *, now: datetime | None = None, claims: int | None = None,
                     order_by: tuple[str, ...] = ("next_attempt_at",)) -> int:
        """Hand every due row to workers (at most `claims` claims a run). Stops early when
        the broker refuses: what it claimed is due again after the lease. Returns how many
        rows were handed over."""
        handed = 0
        for _ in range(claims or self.dispatch_claims):
            ids, claim = self.claim_due(now=now, limit=self.claim_size, order_by=order_by)
            if not ids or not self.hand_over(ids=ids, claim=claim):
                break
            handed += len(ids)
        return handed

    def take(self, *, pk: int, claim: uuid.UUID | str, now: datetime) -> bool:
        """Take a claimed row to send it now: only the claim's holder can, once. The lease
        is renewed, so a worker that dies while sending leaves it due again."""
        return bool(self.model.objects
                    .filter(pk=pk, claim=claim, status__in=self.open_statuses)
                    .update(claim=None, next_attempt_at=now + lease()))
