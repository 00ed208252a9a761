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

The schedule is the database, not the broker: deliveries are a durable outbox
(`loyalty.services.outbox`, which explains the claims and leases). A delivery
emitted by a request is claimed when it is written and handed over when the
transaction commits, so it leaves at once without waiting for the dispatcher;
deliveries written in bulk (nightly jobs) are due at once and the dispatcher
is woken when they commit. A failed attempt sets the next due time by backoff
(30 s, doubling, at most 6 hours) until MAX_FAILURES in a row, then the
delivery is failed (an operator can retry it from the admin). No task waits in
the broker for a retry, so its visibility timeout can be minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from loyalty.models import WebhookDelivery, WebhookEndpoint
from loyalty.models.webhooks import new_webhook_secret
from loyalty.services import netguard
from loyalty.services.outbox import Outbox

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
OPEN = (Status.PENDING, Status.RETRYING)
TIMEOUT_SECONDS = 5
SIGNATURE_TOLERANCE = 300
USER_AGENT = "loyalty-webhooks/1"
# The first attempt and eight retries (30 s ... 64 min apart, about 2 hours in all).
MAX_FAILURES = 9
OUTBOX = Outbox(model=WebhookDelivery, open_statuses=OPEN,
                send_task="loyalty.tasks.send_webhooks",
                dispatch_task="loyalty.tasks.dispatch_webhooks")


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


# --- Claiming and handing over ---------------------------------------------------------


def new_claim(*, now: datetime | None = None) -> tuple[uuid.UUID, datetime]:
    return OUTBOX.new_claim(now=now)


def hand_over_on_commit(*, delivery_ids: list[int], claim: uuid.UUID) -> None:
    OUTBOX.hand_over_on_commit(ids=delivery_ids, claim=claim)


def wake_dispatcher_on_commit() -> None:
    OUTBOX.wake_dispatcher_on_commit()


def dispatch_due(*, now: datetime | None = None, claims: int | None = None) -> int:
    """Hand every due delivery to workers (beat, every minute); how many were handed."""
    return OUTBOX.dispatch_due(now=now, claims=claims)


def requeue(*, delivery_ids: Iterable[int]) -> int:
    """Send failed deliveries again, each with a fresh series of retries.

    Only failed ones: a delivery that is queued or waiting for its retry is
    already on its way. Returns how many were re-queued.
    """
    claim, lease = new_claim()
    with transaction.atomic():
        ids = list(WebhookDelivery.objects
                   .filter(pk__in=list(delivery_ids), status=Status.FAILED)
                   .select_for_update().values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=Status.PENDING, failures=0, claim=claim, next_attempt_at=lease)
        hand_over_on_commit(delivery_ids=ids, claim=claim)
    return len(ids)


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


def attempt(*, delivery_id: int, claim: uuid.UUID | str) -> str:
    """One attempt at sending a claimed delivery, recorded on it.

    Only the holder of the claim may make it, once: the claim is taken (a
    compare-and-set) before the POST, and the lease renewed, so a duplicate
    hand-over finds nothing to do ("skipped"). A delivery whose endpoint was
    deactivated, or whose URL now leads to a private address (`netguard`), is
    failed without a request. Runs outside any transaction: the
    row is never locked while waiting for the answer. Returns the outcome:
    delivered, retrying, failed or skipped.
    """
    now = timezone.now()
    if not OUTBOX.take(pk=delivery_id, claim=claim, now=now):
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if not delivery.endpoint.active:
        _record(delivery_id, status=Status.FAILED, error="The endpoint is inactive.")
        return Status.FAILED
    timestamp = int(now.timestamp())
    try:  # checked again at each send: a name may come to resolve to a private address
        netguard.check_destination(delivery.endpoint.url)
    except netguard.UnsafeDestination as refused:
        if refused.code != "unresolvable":  # never worth retrying
            _record(delivery_id, status=Status.FAILED, error=str(refused.message))
            return Status.FAILED
        code, error = None, str(refused.message)
    else:
        code, error = _post(delivery.endpoint.url, delivery.body.encode(),
                            headers_for(delivery, timestamp=timestamp))
    if code is not None and 200 <= code < 300:
        _record(delivery_id, status=Status.DELIVERED, code=code, attempted_at=now)
        return Status.DELIVERED
    failures = delivery.failures + 1
    if failures >= MAX_FAILURES:
        logger.warning("Webhook delivery %s failed %s times; no more automatic attempts.",
                       delivery_id, failures)
        status, due = Status.FAILED, None
    else:
        status, due = Status.RETRYING, now + timedelta(seconds=retry_countdown(failures - 1))
    _record(delivery_id, status=status, code=code, error=error or f"HTTP {code}",
            attempted_at=now, failures=failures, due=due)
    return status


def send_batch(*, delivery_ids: Iterable[int], claim: uuid.UUID | str) -> dict[str, int]:
    """Attempt each delivery of a claimed batch; returns how many ended in each outcome."""
    return dict(Counter(attempt(delivery_id=delivery_id, claim=claim)
                        for delivery_id in delivery_ids))


def _record(delivery_id: int, *, status: str, code: int | None = None, error: str = "",
            attempted_at: datetime | None = None, failures: int | None = None,
            due: datetime | None = None) -> None:
    changes = {"status": status, "last_error": error[:500], "next_attempt_at": due}
    if attempted_at is not None:
        changes |= {"attempts": F("attempts") + 1, "last_status_code": code,
                    "last_attempt_at": attempted_at}
    if failures is not None:
        changes["failures"] = failures
    if status == Status.DELIVERED:
        changes |= {"delivered_at": attempted_at, "failures": 0}
    WebhookDelivery.objects.filter(pk=delivery_id).update(**changes)


def retry_countdown(retries: int) -> int:
    """Seconds before the next attempt: 30 s, doubling, at most 6 hours."""
    return min(30 * 2 ** retries, 6 * 3600)
