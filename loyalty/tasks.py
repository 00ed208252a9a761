"""Celery tasks: thin, idempotent, retry-safe. Each one looks its work up again and
calls a service; running one twice changes nothing the second time."""

from collections.abc import Iterable

from celery import shared_task

from loyalty.services import ledger, tiers

CHUNK = 1000
RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "retry_backoff_max": 600,
         "max_retries": 5, "acks_late": True}


@shared_task(**RETRY)
def update_members_points(member_ids: list[int]) -> int:
    """Release due pending points and expire due points for these members (one transaction:
    a worker killed mid-chunk leaves it whole, and the redelivered chunk redoes it)."""
    ledger.bring_members_up_to_date(member_ids=member_ids)
    return len(member_ids)


def _fan_out(task, chunks: Iterable[list[int]]) -> int:
    """One task per chunk, as the chunks stream in: no list of every id is built."""
    count = 0
    for chunk in chunks:
        task.delay(chunk)
        count += len(chunk)
    return count


@shared_task(acks_late=True)
def release_pending_points() -> int:
    """Find members with points due for release or expiry; work in chunks."""
    return _fan_out(update_members_points, ledger.due_member_chunks(size=CHUNK))


@shared_task(acks_late=True)
def expire_points() -> int:
    return _fan_out(update_members_points, ledger.due_member_chunks(size=CHUNK))


@shared_task(**RETRY)
def reevaluate_member_tiers(member_ids: list[int]) -> int:
    """Re-evaluate these members' tiers (one transaction); returns how many changed."""
    return tiers.reevaluate_tiers_of(member_ids=member_ids)


@shared_task(acks_late=True)
def reevaluate_tiers() -> int:
    """Re-evaluate the tiers (demotions happen here): only the members whose tier the
    window no longer supports are found (set-based) and sent to workers, in chunks.
    Returns how many were sent."""
    return _fan_out(reevaluate_member_tiers, tiers.members_whose_tier_changes(size=CHUNK))


# --- Insight -------------------------------------------------------------------------------


@shared_task(acks_late=True)
def compute_insight(triggered_by_id: int | None = None) -> int | None:
    """Nightly (and from the admin): RFM scores, lifetime value, stages and segments.

    Safe to run twice: a run finds nothing new the second time, and two never
    overlap (the run's advisory lock; the second one skips, returning None).
    Returns how many members were scored.
    """
    from django.contrib.auth import get_user_model

    from loyalty.services import insight

    by = get_user_model().objects.filter(pk=triggered_by_id).first() if triggered_by_id else None
    try:
        return insight.run_insight(by=by).members
    except insight.InsightRunning:
        return None


# --- Webhooks ------------------------------------------------------------------------------

WEBHOOK_MAX_RETRIES = 8


@shared_task(bind=True, acks_late=True, max_retries=WEBHOOK_MAX_RETRIES)
def deliver_webhook(self, delivery_id: int) -> str:
    """One attempt at a webhook delivery; on failure, again in 30 s, 1 min, ... up to 6 h.

    It never raises for a failed endpoint: the attempt is recorded on the
    delivery, and after the last retry the delivery is marked failed (an
    operator can send it again from the admin). Run eagerly (tests, `make run`)
    there is no worker to come back later, and Celery would repeat an eager
    retry at once, nine times, inside the request that caused the event; so an
    eager failure is recorded as failed after its one attempt.
    """
    from loyalty.services import webhook_delivery

    try:
        delivery = webhook_delivery.deliver(delivery_id=delivery_id)
    except webhook_delivery.DeliveryFailed as exc:
        retries = self.request.retries
        if self.request.is_eager or retries >= self.max_retries:
            webhook_delivery.give_up(delivery_id=delivery_id)
            return "failed"
        countdown = webhook_delivery.retry_countdown(retries)
        webhook_delivery.schedule_retry(delivery_id=delivery_id, countdown=countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return delivery.status if delivery is not None else "gone"


@shared_task(acks_late=True)
def notify_expiring_points() -> int:
    """Daily: tell subscribed endpoints about points expiring within 30 days, once each."""
    from loyalty.services import webhooks

    return webhooks.notify_expiring_points()


@shared_task(acks_late=True)
def requeue_stalled_webhooks() -> int:
    """Every few minutes: queue again deliveries a broker outage left behind."""
    from loyalty.services import webhook_delivery

    return webhook_delivery.requeue_stalled()


@shared_task(acks_late=True)
def purge_idempotency_records() -> int:
    """Daily: forget Idempotency-Key responses past their lifetime."""
    from loyalty.api.idempotency import purge_expired

    return purge_expired()


# --- Imports -------------------------------------------------------------------------------


@shared_task(acks_late=True)
def run_import_job(job_id: int) -> str:
    """Run a staff upload (an import). A job already finished, or running in another worker,
    is left alone: a redelivered task changes nothing."""
    from loyalty.services.imports import jobs

    job = jobs.run_job(job_id=job_id)
    return job.status if job is not None else "skipped"


@shared_task(acks_late=True)
def requeue_stalled_imports() -> int:
    """Every few minutes: queue again imports never started, to retry, or whose worker died."""
    from loyalty.services.imports import jobs

    return jobs.requeue_stalled()
