"""Outbound webhooks: telling the stores' systems (the e-shop first) what happened.

`emit` writes one `WebhookDelivery` per active endpoint subscribed to the
event, in the caller's transaction: a purchase that rolls back sends nothing,
and a cause emitted twice (a retried request) is sent once, because a
delivery is unique per (endpoint, event key). Each delivery is queued only
once the caller's transaction commits, and sent by a Celery task that retries
with exponential backoff. Sending never happens inside the caller's
transaction and its failure never reaches the caller: a dead endpoint cannot
stop a purchase.

Who receives what:
- `points.earned` (and `voucher.issued`) happen somewhere: they go to the
  endpoints of that store only. Earned without a store (an action the
  programme raised itself, such as a birthday bonus; a voucher redeemed on the
  portal) they go to every subscribed endpoint, like member-level events.
- `member.tier_changed` and `points.expiring` are about the member, not about a
  store: every subscribed endpoint of every store receives them, since any
  channel may want to show a member's status or remind them of their points.

Delivery is at least once: a receiver must treat a repeated `X-Loyalty-Delivery`
(the same on every attempt) as already handled.

The request: `POST <url>` with the stored body and the headers
`Content-Type: application/json`, `X-Loyalty-Event`, `X-Loyalty-Delivery`
(uuid), `X-Loyalty-Timestamp` (unix seconds at this attempt) and
`X-Loyalty-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`.
Receivers check it with `verify_signature` (or its three lines in their own
language) and refuse timestamps older than five minutes. Any 2xx is delivered;
anything else (redirects included: they are not followed) is retried.

The body: `{"id": <delivery uuid>, "event": <name>, "created_at": <ISO 8601>,
"data": {...}}`, where `data` is, per event:
- `points.earned`: `{member_id, card_number, points, balance, pending, store,
  occurred_at, source: "purchase"|"action"}`, plus `{order_id, purchase_id}`
  for a purchase or `{event_type, event_id, action_id}` for an action.
  `store` is the store code, or null.
- `member.tier_changed`: `{member_id, card_number, from: code|null,
  to: code|null, reason, at}` with `reason` one of promotion, reevaluation,
  merge, manual.
- `points.expiring`: `{member_id, card_number, points, expires_at}`: the
  member's spendable points that expire on that day (`expires_at` is the
  first moment some of them do), sent once per member and day.
- `voucher.issued` (emitted by the rewards app): `{member_id, card_number,
  redemption_id, reward_id, reward_name, voucher: {code, kind, value,
  expires_at}, points_spent, balance, store}`, event key
  `f"voucher:{voucher.pk}"`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from loyalty.models import (
    ActionEvent,
    Member,
    PointsLot,
    Purchase,
    Store,
    TierChange,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from loyalty.models.webhooks import new_webhook_secret
from loyalty.services import settings_cache

logger = logging.getLogger(__name__)

Event = WebhookEvent
Status = WebhookDelivery.Status
# Sent to the endpoints of the store where they happened (every store's when none).
STORE_EVENTS = frozenset({Event.POINTS_EARNED, Event.VOUCHER_ISSUED})
TIMEOUT_SECONDS = 5
SIGNATURE_TOLERANCE = 300
CHUNK = 500
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


# --- Emitting -----------------------------------------------------------------------------


def _endpoints_for(event: str, store: Store | None) -> list[WebhookEndpoint]:
    endpoints = settings_cache.cached(
        settings_cache.WEBHOOKS, lambda: list(WebhookEndpoint.objects.filter(active=True)))
    if event in STORE_EVENTS and store is not None:
        endpoints = [endpoint for endpoint in endpoints if endpoint.store_id == store.pk]
    # A handful of endpoints at most: subscriptions are filtered here rather than with
    # a JSON lookup that SQLite does not have.
    return [endpoint for endpoint in endpoints if endpoint.subscribes_to(event)]


def _body(*, delivery_uuid: uuid.UUID, event: str, payload: dict, now: datetime) -> str:
    envelope = {"id": str(delivery_uuid), "event": event, "created_at": now, "data": payload}
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)


def _new_delivery(endpoint: WebhookEndpoint, *, event: str, event_key: str, payload: dict,
                  now: datetime) -> WebhookDelivery:
    delivery_uuid = uuid.uuid4()
    return WebhookDelivery(
        endpoint=endpoint, uuid=delivery_uuid, event=event, event_key=event_key,
        body=_body(delivery_uuid=delivery_uuid, event=event, payload=payload, now=now),
        created_at=now)


def _enqueue(delivery_id: int) -> None:
    """Hand a delivery to Celery; never let a broker (or an eager task) fail the caller."""
    from loyalty.tasks import deliver_webhook

    try:
        deliver_webhook.delay(delivery_id)
    except Exception:
        # It stays pending in the log, where an operator can send it again.
        logger.exception("Could not queue webhook delivery %s", delivery_id)


def _queue_on_commit(delivery_ids: Iterable[int]) -> None:
    for delivery_id in delivery_ids:
        transaction.on_commit(partial(_enqueue, delivery_id))


def emit(*, event: str, payload: dict, store: Store | None = None, event_key: str,
         now: datetime | None = None) -> list[WebhookDelivery]:
    """Record `event` for every active endpoint that subscribes to it, once per cause.

    Runs in the caller's transaction (a rolled-back cause sends nothing) and
    queues the deliveries when it commits. The same `event_key` again creates
    nothing for an endpoint that already has it. Returns the new deliveries.
    Raises ValueError for an unknown event (a programming error).
    """
    if event not in Event.values:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = _endpoints_for(event, store)
    if not endpoints:
        return []
    now = now or timezone.now()
    event_key = event_key[:120]
    done = set(WebhookDelivery.objects.filter(endpoint__in=endpoints, event_key=event_key)
               .values_list("endpoint_id", flat=True))
    created = []
    for endpoint in endpoints:
        if endpoint.pk in done:
            continue
        delivery = _new_delivery(endpoint, event=event, event_key=event_key, payload=payload,
                                 now=now)
        try:
            with transaction.atomic():  # a savepoint: a concurrent twin must not undo the cause
                delivery.save(force_insert=True)
        except IntegrityError:
            continue
        created.append(delivery)
    _queue_on_commit(delivery.pk for delivery in created)
    return created


def _member_fields(member: Member) -> dict:
    return {"member_id": member.pk, "card_number": member.card_number}


def emit_purchase_earned(*, purchase: Purchase, member: Member) -> list[WebhookDelivery]:
    """`points.earned` for a purchase that credited points (nothing when it earned none)."""
    if purchase.entry_id is None:
        return []
    return emit(event=Event.POINTS_EARNED, store=purchase.store,
                event_key=f"purchase:{purchase.pk}", now=purchase.created_at, payload={
                    **_member_fields(member), "points": purchase.points_earned,
                    "balance": member.balance, "pending": member.pending,
                    "order_id": purchase.order_id, "store": purchase.store.code,
                    "purchase_id": purchase.pk, "occurred_at": purchase.occurred_at,
                    "source": "purchase"})


def emit_action_earned(*, event: ActionEvent, member: Member) -> list[WebhookDelivery]:
    """`points.earned` for an action that credited points (none when limited)."""
    if event.entry_id is None:
        return []
    return emit(event=Event.POINTS_EARNED, store=event.store, event_key=f"action:{event.pk}",
                now=event.created_at, payload={
                    **_member_fields(member), "points": event.points_earned,
                    "balance": member.balance, "pending": member.pending,
                    "event_type": event.rule.event_type, "event_id": event.event_id,
                    "store": event.store.code if event.store else None,
                    "action_id": event.pk, "occurred_at": event.occurred_at,
                    "source": "action"})


def emit_tier_changed(*, change: TierChange, member: Member) -> list[WebhookDelivery]:
    """`member.tier_changed` for a change of tier, whatever its reason."""
    return emit(event=Event.MEMBER_TIER_CHANGED, event_key=f"tierchange:{change.pk}",
                now=change.at, payload={
                    **_member_fields(member),
                    "from": change.from_tier.code if change.from_tier else None,
                    "to": change.to_tier.code if change.to_tier else None,
                    "reason": change.reason, "at": change.at})


def emit_voucher_issued(*, voucher, redemption, member: Member) -> list[WebhookDelivery]:
    """`voucher.issued` when points were spent on a reward."""
    return emit(event=Event.VOUCHER_ISSUED, store=redemption.store,
                event_key=f"voucher:{voucher.pk}", now=redemption.created_at, payload={
                    **_member_fields(member), "redemption_id": redemption.redemption_id,
                    "reward_id": redemption.reward_id, "reward_name": voucher.reward.name,
                    "voucher": {"code": voucher.formatted_code, "kind": voucher.kind,
                                "value": str(voucher.value), "expires_at": voucher.expires_at},
                    "points_spent": redemption.points_spent, "balance": member.balance,
                    "store": redemption.store.code if redemption.store else None})


def notify_expiring_points(*, within_days: int = 30, now: datetime | None = None) -> int:
    """Emit `points.expiring` for each member and day on which spendable points expire soon.

    Looks at released lots with points remaining that expire after `now` and
    within `within_days`, grouped by member and (local) day, in one query. The
    event key names the member and the day, so running it daily sends each
    reminder once per endpoint. Returns how many deliveries it created.
    """
    now = now or timezone.now()
    endpoints = _endpoints_for(Event.POINTS_EXPIRING, None)
    if not endpoints:
        return 0
    groups = (PointsLot.objects
              .filter(released=True, remaining__gt=0, expires_at__gt=now,
                      expires_at__lte=now + timedelta(days=within_days),
                      member__status=Member.Status.ACTIVE)
              .annotate(day=TruncDate("expires_at", tzinfo=timezone.get_current_timezone()))
              .values("member_id", "member__card_number", "day")
              .annotate(points=Sum("remaining"), expires_at=Min("expires_at"))
              .order_by("member_id", "day"))
    created = 0
    batch = []
    for group in groups.iterator(chunk_size=2000):
        batch.append(group)
        if len(batch) >= CHUNK:
            created += _emit_expiring(batch, endpoints=endpoints, now=now)
            batch = []
    if batch:
        created += _emit_expiring(batch, endpoints=endpoints, now=now)
    return created


def _emit_expiring(groups: list[dict], *, endpoints: list[WebhookEndpoint], now) -> int:
    events = {f"expiring:{group['member_id']}:{group['day'].isoformat()}": {
        "member_id": group["member_id"], "card_number": group["member__card_number"],
        "points": group["points"], "expires_at": group["expires_at"]} for group in groups}
    with transaction.atomic():
        done = set(WebhookDelivery.objects
                   .filter(event=Event.POINTS_EXPIRING, event_key__in=list(events),
                           endpoint__in=endpoints)
                   .values_list("endpoint_id", "event_key"))
        new = [_new_delivery(endpoint, event=Event.POINTS_EXPIRING, event_key=key,
                             payload=payload, now=now)
               for key, payload in events.items() for endpoint in endpoints
               if (endpoint.pk, key) not in done]
        if not new:
            return 0
        try:
            with transaction.atomic():
                WebhookDelivery.objects.bulk_create(new)
        except IntegrityError:
            # Another run got there first for some of them: take them one by one.
            saved = []
            for delivery in new:
                try:
                    with transaction.atomic():
                        delivery.save(force_insert=True)
                except IntegrityError:
                    continue
                saved.append(delivery)
            new = saved
        ids = list(WebhookDelivery.objects.filter(uuid__in=[d.uuid for d in new])
                   .values_list("pk", flat=True))
        _queue_on_commit(ids)
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
        _queue_on_commit(ids)
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
        _enqueue(delivery_id)
    return len(stalled)
