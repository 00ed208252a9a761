"""Outbound webhooks: telling the stores' systems (the e-shop first) what happened.

`emit` writes one `WebhookDelivery` per active endpoint subscribed to the
event, in the caller's transaction: a purchase that rolls back sends nothing,
and a cause emitted twice (a retried request) is sent once, because a
delivery is unique per (endpoint, event key). A delivery is its own durable
schedule: it is handed to a worker once the caller's transaction commits,
and whatever the broker or a worker loses is due again in the database and
sent by the dispatcher, with exponential backoff on failures
(`webhook_delivery`, which also documents the request and its signature).
Sending never happens inside the caller's transaction and its failure never
reaches the caller: a dead endpoint cannot stop a purchase.

Who receives what:
- `points.earned` (and `voucher.issued`) happen somewhere: they go to the
  endpoints of that store only. Earned without a store (an action the
  programme raised itself, such as a birthday bonus; a voucher redeemed on the
  portal) they go to every subscribed endpoint, like member-level events.
- `member.tier_changed` and `points.expiring` are about the member, not about a
  store: every subscribed endpoint of every store receives them, since any
  channel may want to show a member's status or remind them of their points.

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
- `member.stage_changed` (the insight run, `services/insight/stages.py`):
  `{member_id, card_number, from: stage|null, to: stage, at}`, the lifecycle
  stages being prospect, new, active, loyal, at_risk, lapsed; `from` is null the
  first time a member is staged; `at` is the run's time. Event key
  `f"stage:{member_id}:{stage_period_id}"` (the period the member enters).
- `member.segment_changed` (the insight run, `services/insight/segments.py`):
  `{member_id, card_number, from: code|null, to: code|null, at}` with segment
  codes (champions, loyal, ...); null is "no segment". Event key
  `f"segment:{member_id}:{segment_period_id}"` for the period entered, or
  `f"segment:{member_id}:left:{segment_period_id}"` (the period left) when the
  member falls out of every segment.
  Both go to every subscribed endpoint, like the other member-level events, and
  are sent for changes only: the programme's first insight run, which stages and
  segments everybody at once, sends none.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Sum
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
from loyalty.services import settings_cache, webhook_delivery

Event = WebhookEvent
# Sent to the endpoints of the store where they happened (every store's when none).
STORE_EVENTS = frozenset({Event.POINTS_EARNED, Event.VOUCHER_ISSUED})
CHUNK = 500


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
                  now: datetime, due: datetime, claim: uuid.UUID | None = None
                  ) -> WebhookDelivery:
    delivery_uuid = uuid.uuid4()
    return WebhookDelivery(
        endpoint=endpoint, uuid=delivery_uuid, event=event, event_key=event_key,
        body=_body(delivery_uuid=delivery_uuid, event=event, payload=payload, now=now),
        created_at=now, next_attempt_at=due, claim=claim)


def emit(*, event: str, payload: dict, store: Store | None = None, event_key: str,
         now: datetime | None = None) -> list[WebhookDelivery]:
    """Record `event` for every active endpoint that subscribes to it, once per cause.

    Runs in the caller's transaction (a rolled-back cause sends nothing) and
    queues the deliveries when it commits. The same `event_key` again creates
    nothing for an endpoint that already has it. Returns the new deliveries.
    Raises ValueError for an unknown event (a programming error).

    The new deliveries are claimed as they are written and handed to a worker
    on commit; if that hand-over is lost, their claim lapses and the dispatcher
    sends them.
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
    claim, lease = webhook_delivery.new_claim()
    created = []
    for endpoint in endpoints:
        if endpoint.pk in done:
            continue
        delivery = _new_delivery(endpoint, event=event, event_key=event_key, payload=payload,
                                 now=now, due=lease, claim=claim)
        try:
            with transaction.atomic():  # a savepoint: a concurrent twin must not undo the cause
                delivery.save(force_insert=True)
        except IntegrityError:
            continue
        created.append(delivery)
    webhook_delivery.hand_over_on_commit(delivery_ids=[d.pk for d in created], claim=claim)
    return created


def _member_fields(member: Member) -> dict:
    return {"member_id": member.pk, "card_number": member.card_number}


def emit_purchase_earned(*, purchase: Purchase, member: Member,
                         now: datetime | None = None) -> list[WebhookDelivery]:
    """`points.earned` for a purchase that credited points (nothing when it earned none).
    `now`: when it earned them, if not when it was recorded (a receipt claimed later)."""
    if purchase.entry_id is None:
        return []
    return emit(event=Event.POINTS_EARNED, store=purchase.store,
                event_key=f"purchase:{purchase.pk}", now=now or purchase.created_at, payload={
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
                    # The name as staff typed it (English), whoever's language caused it.
                    "reward_id": redemption.reward_id,
                    "reward_name": voucher.reward.name_en or voucher.reward.name,
                    "voucher": {"code": voucher.formatted_code, "kind": voucher.kind,
                                "value": str(voucher.value), "expires_at": voucher.expires_at},
                    "points_spent": redemption.points_spent, "balance": member.balance,
                    "store": redemption.store.code if redemption.store else None})


def notify_expiring_points(*, within_days: int = 30, now: datetime | None = None) -> int:
    """Emit `points.expiring` for each member and day on which spendable points expire soon.

    Looks at released lots with points remaining that expire after `now` and
    within `within_days`, grouped by member and (local) day. The event key names
    the member and the day, so running it daily sends each reminder once per
    endpoint. On PostgreSQL the deliveries are written by one INSERT … SELECT
    (the bodies built in SQL, byte for byte as `_body` writes them); elsewhere
    in batches through `emit_many`. Either way they are due at once and the
    dispatcher sends them. Returns how many deliveries it created.
    """
    now = now or timezone.now()
    endpoints = _endpoints_for(Event.POINTS_EXPIRING, None)
    if not endpoints:
        return 0
    until = now + timedelta(days=within_days)
    if connection.vendor == "postgresql":
        return _notify_expiring_in_sql(endpoints=endpoints, now=now, until=until)
    groups = (PointsLot.objects
              .filter(released=True, remaining__gt=0, expires_at__gt=now,
                      expires_at__lte=until, member__status=Member.Status.ACTIVE)
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


# A timestamp as DjangoJSONEncoder writes it: UTC, milliseconds only when there is a
# fraction, "Z" for the zone. ("%%" is a literal "%" in a query with parameters.)
_SQL_JSON_TIME = """(to_char({t} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
    || CASE WHEN extract(microseconds FROM {t})::bigint %% 1000000 = 0 THEN ''
            ELSE '.' || lpad(((extract(microseconds FROM {t})::bigint %% 1000000) / 1000)::text,
                             3, '0') END || 'Z')"""


def _notify_expiring_in_sql(*, endpoints: list[WebhookEndpoint], now: datetime,
                            until: datetime) -> int:
    lots, members = PointsLot._meta.db_table, Member._meta.db_table
    deliveries = WebhookDelivery._meta.db_table
    # Table names come from the models, every value is a parameter.
    sql = f"""
        WITH due AS (
            SELECT l.member_id, m.card_number,
                   (l.expires_at AT TIME ZONE %(zone)s)::date AS day,
                   SUM(l.remaining) AS points, MIN(l.expires_at) AS expires_at
            FROM {lots} l JOIN {members} m ON m.id = l.member_id
            WHERE l.released AND l.remaining > 0 AND l.expires_at > %(now)s
              AND l.expires_at <= %(until)s AND m.status = %(active)s
            GROUP BY l.member_id, m.card_number, day
        ), addressed AS (
            SELECT e.endpoint_id, gen_random_uuid() AS uuid, due.*
            FROM due CROSS JOIN unnest(%(endpoints)s::bigint[]) AS e(endpoint_id)
        )
        INSERT INTO {deliveries} (endpoint_id, uuid, event, event_key, body, status, attempts,
                                  failures, last_error, created_at, next_attempt_at)
        SELECT endpoint_id, uuid, %(event)s,
               'expiring:' || member_id || ':' || to_char(day, 'YYYY-MM-DD'),
               '{{"created_at":' || %(created)s || ',"data":{{"card_number":'
                   || to_json(card_number)::text || ',"expires_at":"'
                   || {_SQL_JSON_TIME.format(t="expires_at")}
                   || '","member_id":' || member_id || ',"points":' || points
                   || '}},"event":' || %(event_json)s || ',"id":"' || uuid || '"}}',
               %(pending)s, 0, 0, '', %(now)s, %(now)s
        FROM addressed
        ON CONFLICT (endpoint_id, event_key) DO NOTHING
    """  # noqa: S608
    params = {"zone": timezone.get_current_timezone_name(), "now": now, "until": until,
              "active": Member.Status.ACTIVE, "endpoints": [e.pk for e in endpoints],
              "event": Event.POINTS_EXPIRING, "event_json": json.dumps(Event.POINTS_EXPIRING),
              "created": json.dumps(now, cls=DjangoJSONEncoder),
              "pending": WebhookDelivery.Status.PENDING}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        created = cursor.rowcount
        if created:
            webhook_delivery.wake_dispatcher_on_commit()
    return created


def _emit_expiring(groups: list[dict], *, endpoints: list[WebhookEndpoint], now) -> int:
    events = {f"expiring:{group['member_id']}:{group['day'].isoformat()}": {
        "member_id": group["member_id"], "card_number": group["member__card_number"],
        "points": group["points"], "expires_at": group["expires_at"]} for group in groups}
    return emit_many(event=Event.POINTS_EXPIRING, payloads=events, endpoints=endpoints,
                     now=now)


def subscribers(event: str) -> list[WebhookEndpoint]:
    """The active endpoints that receive a member-level `event` (none: nothing to build)."""
    return _endpoints_for(event, None)


def emit_many(*, event: str, payloads: dict[str, dict], now: datetime,
              endpoints: list[WebhookEndpoint] | None = None) -> int:
    """Record a member-level `event` for many causes at once: `payloads` by event key.

    The batched form of `emit` for jobs over many members (a few hundred keys a
    call): deliveries are created in bulk, once per (endpoint, event key) however
    often it runs, due at once: the dispatcher is woken when the caller's
    transaction commits. `endpoints` defaults to every active subscriber.
    Returns how many deliveries it created.
    """
    if event not in Event.values:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = subscribers(event) if endpoints is None else endpoints
    if not endpoints or not payloads:
        return 0
    payloads = {key[:120]: payload for key, payload in payloads.items()}
    with transaction.atomic():
        done = set(WebhookDelivery.objects
                   .filter(event=event, event_key__in=list(payloads), endpoint__in=endpoints)
                   .values_list("endpoint_id", "event_key"))
        due = timezone.now()
        new = [_new_delivery(endpoint, event=event, event_key=key, payload=payload, now=now,
                             due=due)
               for key, payload in payloads.items() for endpoint in endpoints
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
        if new:
            webhook_delivery.wake_dispatcher_on_commit()
        return len(new)
