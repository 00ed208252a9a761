"""Celery tasks: thin, idempotent, retry-safe. Each one looks its work up again and
calls a service; running one twice changes nothing the second time."""

from collections.abc import Iterable

from celery import shared_task
from django.db import DatabaseError

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

# A database error (PostgreSQL restarting) is retried within a minute; the rows stay due
# in the database whatever happens, so nothing is lost if the retries run out.
WEBHOOK_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 5,
                 "retry_backoff_max": 60, "max_retries": 10, "acks_late": True}


@shared_task(**WEBHOOK_RETRY)
def send_webhooks(delivery_ids: list[int], claim: str) -> dict[str, int]:
    """Send a claimed batch of webhook deliveries, one attempt each (failures are due
    again later, in the database). Run twice, it sends nothing the second time."""
    from loyalty.services import webhook_delivery

    return webhook_delivery.send_batch(delivery_ids=delivery_ids, claim=claim)


@shared_task(**WEBHOOK_RETRY)
def dispatch_webhooks() -> int:
    """Every minute (and when deliveries are written in bulk): hand due deliveries to
    workers, whatever a broker outage, a dead worker or a failed attempt left due."""
    from loyalty.services import webhook_delivery

    return webhook_delivery.dispatch_due()


# --- Messages to members ----------------------------------------------------------------------


@shared_task(**WEBHOOK_RETRY)
def send_messages(message_ids: list[int], claim: str) -> dict[str, int]:
    """Send a claimed batch of messages, each once, within consent and caps."""
    from loyalty.services.messaging import delivery

    return delivery.send_batch(message_ids=message_ids, claim=claim)


@shared_task(**WEBHOOK_RETRY)
def dispatch_messages() -> int:
    """Every minute: hand due messages to workers (new, held until morning, to retry, or
    lost with a broker or a worker)."""
    from loyalty.services.messaging import delivery

    return delivery.dispatch_due()


@shared_task(acks_late=True)
def run_journeys() -> dict[str, int]:
    """Hourly: fire the active journeys; each occasion is queued once, however often."""
    from loyalty.services.messaging import journeys

    return journeys.run_journeys()


@shared_task(acks_late=True)
def notify_expiring_points() -> int:
    """Daily: tell subscribed endpoints about points expiring within 30 days, once each."""
    from loyalty.services import webhooks

    return webhooks.notify_expiring_points()


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


# --- Campaigns ---------------------------------------------------------------------------------


@shared_task(**WEBHOOK_RETRY)
def send_campaign(campaign_id: int) -> int:
    """Send one campaign marked for sending; a campaign sent already sends nothing."""
    from loyalty.services import campaigns

    return campaigns.send_campaign(campaign_id=campaign_id)


@shared_task(acks_late=True)
def send_due_campaigns() -> int:
    """Every few minutes: send the scheduled campaigns whose time has come (and any marked
    for sending whose task a broker lost)."""
    from loyalty.services import campaigns

    return campaigns.send_due()
