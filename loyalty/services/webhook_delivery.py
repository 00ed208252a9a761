"""Sending the deliveries that `webhooks.emit` recorded: signed, retried, logged.

Delivery is at least once: a receiver must treat a repeated `X-Loyalty-Delivery`
(the same on every attempt) as already handled.

The request: `POST <url>` with the stored body and the headers
`Content-Type: application/json`, `X-Loyalty-Event`, `X-Loyalty-Delivery`
(uuid), `X-Loyalty-Timestamp` (unix seconds at this attempt) and
`X-Loyalty-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`.
Receivers check it with `verify_signature` (or its three lines in their own
language) and refuse timestamps older than five minutes. Any 2xx is delivered;
anything else (redirects included: they are not followed) is retried.

A Celery task (`loyalty.tasks.deliver_webhook`) makes each attempt with
`deliver` and retries with `retry_countdown`'s backoff; `requeue` (the admin)
and `requeue_stalled` (beat) send again what was left behind.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from loyalty.models import WebhookDelivery, WebhookEndpoint
from loyalty.models.webhooks import new_webhook_secret

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
TIMEOUT_SECONDS = 5
SIGNATURE_TOLERANCE = 300
USER_AGENT = "loyalty-webhooks/1"


class DeliveryFailed(Exception):
    """An attempt that did not get a 2xx: worth trying again later."""


# --- Signing ------------------------------------------------------------------------------


def _as_bytes(body: bytes | str) -> bytes:
    return body if isinstance(body, bytes) else body.encode()


def sign(*, secret: str, timestamp: int, body: bytes | str) -> str:
    """The hex HMAC-SHA256 of f"{timestamp}.{body}" with the endpoint's secret."""
    message = f"{int(timestamp)}.".encode() + _as_bytes(body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(*, secret: str, timestamp, body: bytes | str, signature: str,
                     tolerance: int = SIGNATURE_TOLERANCE, now: datetime | None = None) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent.

    `signature` is the X-Loyalty-Signature header; it may carry several
    comma-separated `v1=` values, any of which may match. An old (or future)
    timestamp fails, so a captured request cannot be replayed later.
    """
    try:
        timestamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = now or timezone.now()
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, timestamp=timestamp, body=body)
    candidates = [part.strip()[3:] for part in str(signature or "").split(",")
                  if part.strip().startswith("v1=")]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def rotate_secret(*, endpoint_id: int) -> str:
    """Give an endpoint a new secret; the old one stops working at once."""
    secret = new_webhook_secret()
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(secret=secret)
    return secret


# --- Queueing -----------------------------------------------------------------------------


def queue(delivery_id: int) -> None:
    """Hand a delivery to Celery; never let a broker (or an eager task) fail the caller."""
    from loyalty.tasks import deliver_webhook

    try:
        deliver_webhook.delay(delivery_id)
    except Exception:
        # It stays pending in the log, where an operator can send it again.
        logger.exception("Could not queue webhook delivery %s", delivery_id)


def queue_on_commit(delivery_ids: Iterable[int]) -> None:
    """Queue each delivery once the current transaction commits (nothing if it rolls back)."""
    for delivery_id in delivery_ids:
        transaction.on_commit(partial(queue, delivery_id))


# --- Delivering ---------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx: followed, it could lead anywhere."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    """POST and return (status code, error text); status None when no answer came."""
    if urlsplit(url).scheme not in ("http", "https"):
        return None, "Only http and https URLs are allowed."
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked above)
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        detail = error.read(300).decode(errors="replace").strip()
        error.close()
        return error.code, f"HTTP {error.code}" + (f": {detail}" if detail else "")
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return None, f"{type(error).__name__}: {reason}"


def headers_for(delivery: WebhookDelivery, *, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Loyalty-Event": delivery.event,
        "X-Loyalty-Delivery": str(delivery.uuid),
        "X-Loyalty-Timestamp": str(timestamp),
        "X-Loyalty-Signature": "v1=" + sign(secret=delivery.endpoint.secret,
                                            timestamp=timestamp, body=delivery.body),
    }


def deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt at sending a delivery, recorded on it. Raises DeliveryFailed if not 2xx.

    Nothing is sent for a delivery already delivered (a task run twice), gone
    (its endpoint was deleted: returns None) or whose endpoint was deactivated
    (recorded as failed, not retried). Runs outside any transaction: the row is
    updated after the answer, never locked while waiting for it.
    """
    delivery = (WebhookDelivery.objects.select_related("endpoint")
                .filter(pk=delivery_id).first())
    if delivery is None or delivery.status == Status.DELIVERED:
        return delivery
    if not delivery.endpoint.active:
        _record(delivery, status=Status.FAILED, code=None,
                error="The endpoint is inactive.", attempted=False)
        return delivery
    now = timezone.now()
    timestamp = int(now.timestamp())
    code, error = _post(delivery.endpoint.url, delivery.body.encode(),
                        headers_for(delivery, timestamp=timestamp))
    if code is not None and 200 <= code < 300:
        _record(delivery, status=Status.DELIVERED, code=code, error="", now=now)
        return delivery
    _record(delivery, status=Status.RETRYING, code=code, error=error or f"HTTP {code}",
            now=now)
    raise DeliveryFailed(delivery.last_error)


def _record(delivery: WebhookDelivery, *, status: str, code: int | None, error: str,
            attempted: bool = True, now: datetime | None = None) -> None:
    now = now or timezone.now()
    changes = {"status": status, "last_error": error[:500], "next_attempt_at": None}
    if attempted:
        changes |= {"attempts": F("attempts") + 1, "last_status_code": code,
                    "last_attempt_at": now}
    if status == Status.DELIVERED:
        changes["delivered_at"] = now
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**changes)
    delivery.refresh_from_db()


def retry_countdown(retries: int) -> int:
    """Seconds before the next attempt: 30 s, doubling, at most 6 hours."""
    return min(30 * 2 ** retries, 6 * 3600)


def schedule_retry(*, delivery_id: int, countdown: int) -> None:
    """Note when the next attempt is due (the task re-queues itself)."""
    WebhookDelivery.objects.filter(pk=delivery_id).exclude(status=Status.DELIVERED).update(
        status=Status.RETRYING, next_attempt_at=timezone.now() + timedelta(seconds=countdown))


def give_up(*, delivery_id: int) -> None:
    """No more automatic attempts; an operator can still send it again."""
    WebhookDelivery.objects.filter(pk=delivery_id).exclude(status=Status.DELIVERED).update(
        status=Status.FAILED, next_attempt_at=None)
    logger.warning("Webhook delivery %s failed; no more automatic attempts.", delivery_id)


def requeue(*, delivery_ids: Iterable[int]) -> int:
    """Send failed deliveries again, each with a fresh series of retries.

    Only failed ones: a delivery that is queued or waiting for its retry is
    already on its way. Returns how many were re-queued.
    """
    with transaction.atomic():
        ids = list(WebhookDelivery.objects
                   .filter(pk__in=list(delivery_ids), status=Status.FAILED)
                   .select_for_update().values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).update(status=Status.PENDING,
                                                          next_attempt_at=None)
        queue_on_commit(ids)
    return len(ids)


def requeue_stalled(*, older_than: timedelta = timedelta(minutes=15), now=None) -> int:
    """Queue again deliveries that never reached a worker (the broker was down).

    A delivery still `pending` long after it was created was never attempted;
    one `retrying` well past its due time lost its retry. Sending them again
    is safe: receivers de-duplicate on X-Loyalty-Delivery.
    """
    now = now or timezone.now()
    stalled = list(WebhookDelivery.objects.filter(
        Q(status=Status.PENDING, created_at__lte=now - older_than)
        | Q(status=Status.RETRYING, next_attempt_at__lte=now - older_than))
        .values_list("pk", flat=True)[:1000])
    for delivery_id in stalled:
        queue(delivery_id)
    return len(stalled)
