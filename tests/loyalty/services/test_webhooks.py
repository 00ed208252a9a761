"""Outbound webhooks: signed, emitted with their cause, sent once, never in the cause's way."""

import json
import socket
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Member, WebhookDelivery, WebhookEndpoint, WebhookEvent
from loyalty.services import ledger, outbox, tiers, webhook_delivery, webhooks
from loyalty.services.actions import record_action
from loyalty.services.purchases import record_purchase
from loyalty.tasks import dispatch_webhooks, notify_expiring_points, send_webhooks
from tests.factories import ActionRuleFactory, TierFactory, UserFactory, make_member, programme
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status
ALL_EVENTS = list(WebhookEvent.values)


def endpoint_for(store, url="https://shop.example.com/hooks", events=None, **fields):
    return WebhookEndpoint.objects.create(store=store, url=url,
                                          events=ALL_EVENTS if events is None else events,
                                          **fields)


def body_of(delivery) -> dict:
    return json.loads(delivery.body)


# --- A real receiver ------------------------------------------------------------------------


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def refused_url():
    """A local port nobody listens on: the connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def buy(store, member, order_id="A-1", amount="40.00", **kwargs):
    return record_purchase(store=store, order_id=order_id, amount=amount, member=member,
                           **kwargs)


# --- Signing --------------------------------------------------------------------------------


def test_a_receiver_verifies_the_signature_of_the_exact_body():
    now = timezone.now()
    timestamp = int(now.timestamp())
    body = b'{"event":"points.earned","data":{"points":40}}'
    signature = "v1=" + webhook_delivery.sign(secret="s3cret", timestamp=timestamp, body=body)
    assert webhook_delivery.verify_signature(secret="s3cret", timestamp=str(timestamp), body=body,
                                     signature=signature, now=now)
    assert webhook_delivery.verify_signature(secret="s3cret", timestamp=timestamp,
                                     body=body.decode(), signature=f"v1=00, {signature}",
                                     now=now)


@pytest.mark.parametrize("change", ["body", "secret", "signature", "timestamp", "garbage"])
def test_a_tampered_request_fails_verification(change):
    now = timezone.now()
    timestamp = int(now.timestamp())
    body = b'{"data":{"points":40}}'
    request = {"secret": "s3cret", "timestamp": timestamp, "body": body,
               "signature": "v1=" + webhook_delivery.sign(secret="s3cret", timestamp=timestamp,
                                                  body=body)}
    request |= {"body": {"body": b'{"data":{"points":4000}}'},
                "secret": {"secret": "other"},
                "signature": {"signature": request["signature"].replace("v1=", "v0=")},
                "timestamp": {"timestamp": timestamp + 1},
                "garbage": {"timestamp": "yesterday"}}[change]
    assert not webhook_delivery.verify_signature(**request, now=now)


def test_an_old_or_future_timestamp_fails_even_with_a_good_signature():
    now = timezone.now()
    body = b"{}"
    for age in (301, -301):
        timestamp = int(now.timestamp()) - age
        signature = "v1=" + webhook_delivery.sign(secret="k", timestamp=timestamp, body=body)
        assert not webhook_delivery.verify_signature(secret="k", timestamp=timestamp, body=body,
                                             signature=signature, now=now)
        assert webhook_delivery.verify_signature(secret="k", timestamp=timestamp, body=body,
                                         signature=signature, now=now, tolerance=400)


def test_each_endpoint_gets_its_own_secret_and_rotating_changes_it(store):
    first, second = endpoint_for(store), endpoint_for(store, url="https://b.example.com/")
    assert len(first.secret) >= 40 and first.secret != second.secret
    new = webhook_delivery.rotate_secret(endpoint_id=first.pk)
    first.refresh_from_db()
    assert first.secret == new != second.secret


def test_only_http_and_https_urls_are_accepted(store):
    from django.core.exceptions import ValidationError

    for url in ("file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/"):
        with pytest.raises(ValidationError):
            WebhookEndpoint(store=store, url=url, events=ALL_EVENTS).full_clean()
    WebhookEndpoint(store=store, url="http://shop.example.com/x",
                    events=ALL_EVENTS).full_clean()


# --- Emitting -------------------------------------------------------------------------------


def test_emit_writes_one_delivery_per_subscribed_active_endpoint(store, web_store):
    subscribed = endpoint_for(store)
    endpoint_for(store, url="https://inactive.example.com/", active=False)
    endpoint_for(store, url="https://other.example.com/",
                 events=[WebhookEvent.MEMBER_TIER_CHANGED])
    created = webhooks.emit(event="points.earned", payload={"points": 1}, store=store,
                            event_key="purchase:1")
    assert [delivery.endpoint for delivery in created] == [subscribed]
    assert body_of(created[0])["data"] == {"points": 1}
    assert body_of(created[0])["id"] == str(created[0].uuid)


def test_emit_belongs_to_the_callers_transaction(store, django_capture_on_commit_callbacks):
    endpoint_for(store)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), \
            transaction.atomic():
        webhooks.emit(event="points.earned", payload={}, store=store, event_key="purchase:1")
        raise RuntimeError("the cause failed")
    assert not WebhookDelivery.objects.exists()
    assert callbacks == []


def test_a_rolled_back_purchase_sends_nothing(store, scale, member,
                                              django_capture_on_commit_callbacks):
    endpoint_for(store)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), \
            transaction.atomic():
        buy(store, member)
        raise RuntimeError("the request failed after the purchase")
    assert not WebhookDelivery.objects.exists()
    assert callbacks == []


def test_the_same_cause_twice_is_one_delivery(store, django_capture_on_commit_callbacks):
    endpoint = endpoint_for(store)
    with django_capture_on_commit_callbacks() as callbacks:
        first = webhooks.emit(event="points.earned", payload={"n": 1}, store=store,
                              event_key="purchase:7")
        again = webhooks.emit(event="points.earned", payload={"n": 2}, store=store,
                              event_key="purchase:7")
    assert len(first) == 1 and again == []
    assert WebhookDelivery.objects.get().endpoint == endpoint
    assert len(callbacks) == 1


def test_a_replayed_purchase_sends_nothing_twice(store, scale, member):
    endpoint_for(store)
    buy(store, member)
    assert not buy(store, member).created
    assert WebhookDelivery.objects.count() == 1


def test_an_unknown_event_is_a_programming_error(store):
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhooks.emit(event="points.stolen", payload={}, store=store, event_key="x")


def test_a_purchase_sends_points_earned_to_its_stores_endpoints_only(store, web_store, scale,
                                                                     member):
    paris = endpoint_for(store)
    endpoint_for(web_store)
    purchase = buy(store, member, amount="40.00").obj
    delivery = WebhookDelivery.objects.get()
    member.refresh_from_db()
    assert (delivery.endpoint, delivery.event, delivery.event_key) == (
        paris, "points.earned", f"purchase:{purchase.pk}")
    body = body_of(delivery)
    assert body["event"] == "points.earned"
    assert body["data"] == {
        "member_id": member.pk, "card_number": member.card_number, "points": 40,
        "balance": member.balance, "pending": member.pending, "order_id": "A-1",
        "store": "paris", "purchase_id": purchase.pk, "source": "purchase",
        "occurred_at": body["data"]["occurred_at"]}
    assert body["data"]["balance"] == 40


def test_a_purchase_that_earns_nothing_sends_nothing(store, member):
    programme(return_window_days=0)
    endpoint_for(store)
    assert buy(store, member).obj.points_earned == 0  # no earning rule
    assert not WebhookDelivery.objects.exists()


def test_an_action_sends_points_earned_unless_limited(store, member):
    endpoint_for(store)
    ActionRuleFactory(event_type="review_posted", points=10, limit_count=1)
    event = record_action(member=member, event_type="review_posted", event_id="ev-1",
                          store=store).obj
    limited = record_action(member=member, event_type="review_posted", event_id="ev-2",
                            store=store).obj
    assert limited.limited
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_key == f"action:{event.pk}"
    data = body_of(delivery)["data"]
    assert (data["points"], data["event_type"], data["event_id"], data["action_id"],
            data["store"], data["source"]) == (10, "review_posted", "ev-1", event.pk,
                                               "paris", "action")


def test_points_earned_without_a_store_go_to_every_subscribed_endpoint(store, web_store,
                                                                       member):
    endpoint_for(store)
    endpoint_for(web_store)
    ActionRuleFactory(event_type="birthday", points=100)
    record_action(member=member, event_type="birthday", event_id="bday-2025")
    assert WebhookDelivery.objects.count() == 2
    assert body_of(WebhookDelivery.objects.first())["data"]["store"] is None


def test_a_promotion_sends_tier_changed_to_every_stores_endpoints(store, web_store, scale,
                                                                  member):
    TierFactory(code="bronze", rank=0, threshold=0)
    gold = TierFactory(code="gold", rank=1, threshold=100)
    paris = endpoint_for(store, events=[WebhookEvent.MEMBER_TIER_CHANGED])
    web = endpoint_for(web_store, events=[WebhookEvent.MEMBER_TIER_CHANGED])
    buy(store, member, order_id="1", amount="50.00")  # bronze
    buy(store, member, order_id="2", amount="60.00")  # gold
    member.refresh_from_db()
    assert member.tier == gold
    changes = list(member.tier_changes.order_by("at", "id"))
    deliveries = WebhookDelivery.objects.filter(event="member.tier_changed")
    assert {(d.endpoint_id, d.event_key) for d in deliveries} == {
        (endpoint.pk, f"tierchange:{change.pk}") for endpoint in (paris, web)
        for change in changes}
    last = deliveries.get(endpoint=web, event_key=f"tierchange:{changes[-1].pk}")
    data = body_of(last)["data"]
    assert (data["member_id"], data["card_number"], data["from"], data["to"],
            data["reason"]) == (member.pk, member.card_number, "bronze", "gold", "promotion")


def test_a_demotion_to_no_tier_says_null(store, member):
    gold = TierFactory(code="gold", rank=1, threshold=100)
    endpoint_for(store, events=[WebhookEvent.MEMBER_TIER_CHANGED])
    tiers.set_tier(member_id=member.pk, tier=gold)
    tiers.reevaluate_tier(member_id=member.pk)
    datas = [body_of(d)["data"] for d in WebhookDelivery.objects.order_by("id")]
    assert [(d["from"], d["to"], d["reason"]) for d in datas] == [
        (None, "gold", "manual"), ("gold", None, "reevaluation")]


# --- Expiring points ------------------------------------------------------------------------


def credit(member, points, *, expires_in_days, released=True, now=None):
    now = now or timezone.now()
    with transaction.atomic():
        locked = ledger.lock_member(member.pk)
        ledger.apply_credit(locked, kind="adjust", points=points, reason="test",
                            reference="test", now=now,
                            available_at=now if released else now + timedelta(days=5),
                            expires_at=now + timedelta(days=expires_in_days))


def test_expiring_points_are_announced_once_per_member_and_day(store, web_store, member):
    endpoint = endpoint_for(store, events=[WebhookEvent.POINTS_EXPIRING])
    endpoint_for(web_store, events=[WebhookEvent.POINTS_EARNED])  # not subscribed
    other = make_member(email="other@example.com")
    now = timezone.now().replace(hour=10)
    credit(member, 30, expires_in_days=10, now=now)
    credit(member, 20, expires_in_days=10, now=now + timedelta(minutes=5))
    credit(member, 5, expires_in_days=20, now=now)
    credit(member, 7, expires_in_days=45, now=now)  # beyond the window
    credit(member, 9, expires_in_days=10, released=False, now=now)  # still pending
    credit(other, 11, expires_in_days=3, now=now)

    assert webhooks.notify_expiring_points(within_days=30, now=now) == 3
    sent = {d.event_key: body_of(d)["data"] for d in WebhookDelivery.objects.all()}
    day_10 = timezone.localdate(now + timedelta(days=10))
    day_20 = timezone.localdate(now + timedelta(days=20))
    day_3 = timezone.localdate(now + timedelta(days=3))
    assert set(sent) == {f"expiring:{member.pk}:{day_10}", f"expiring:{member.pk}:{day_20}",
                         f"expiring:{other.pk}:{day_3}"}
    ten = sent[f"expiring:{member.pk}:{day_10}"]
    assert (ten["member_id"], ten["card_number"], ten["points"]) == (
        member.pk, member.card_number, 50)
    assert ten["expires_at"].startswith((now + timedelta(days=10)).strftime("%Y-%m-%d"))
    assert all(d.endpoint == endpoint for d in WebhookDelivery.objects.all())

    # The next day, and the one after: nothing new, nothing repeated.
    for later in (1, 2):
        assert webhooks.notify_expiring_points(now=now + timedelta(days=later)) == 0
    assert WebhookDelivery.objects.count() == 3


def test_expiring_points_of_merged_or_spent_lots_are_not_announced(store, member):
    endpoint_for(store, events=[WebhookEvent.POINTS_EXPIRING])
    credit(member, 30, expires_in_days=10)
    ledger.adjust_points(member_id=member.pk, points=-30, reason="spent")
    assert webhooks.notify_expiring_points() == 0


def test_the_daily_task_announces_expiring_points(store, member):
    endpoint_for(store, events=[WebhookEvent.POINTS_EXPIRING])
    credit(member, 30, expires_in_days=10)
    assert notify_expiring_points.apply().get() == 1
    assert notify_expiring_points.apply().get() == 0


def test_expiring_points_without_subscribers_cost_one_query(store, member,
                                                            django_assert_num_queries):
    credit(member, 30, expires_in_days=10)
    with django_assert_num_queries(1):
        assert webhooks.notify_expiring_points() == 0


def test_expiring_points_take_the_same_few_queries_for_many_members(
        store, django_assert_max_num_queries):
    endpoint_for(store, events=[WebhookEvent.POINTS_EXPIRING])
    for n in range(3):
        credit(make_member(email=f"few{n}@example.com"), 10, expires_in_days=5)
    with CaptureQueriesContext(connection) as few:
        assert webhooks.notify_expiring_points() == 3
    for n in range(40):
        credit(make_member(email=f"many{n}@example.com"), 10, expires_in_days=5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert webhooks.notify_expiring_points() == 40


@pytest.mark.postgres
def test_expiring_points_written_in_sql_have_the_bodies_python_writes(store, member):
    """The INSERT … SELECT builds each body in SQL: byte for byte what `_body` writes."""
    endpoint = endpoint_for(store, events=[WebhookEvent.POINTS_EXPIRING])
    other = make_member(email="o'neil@example.com")
    now = timezone.now().replace(microsecond=0)
    credit(member, 30, expires_in_days=10, now=now)  # a whole second
    credit(other, 12, expires_in_days=4, now=now + timedelta(microseconds=123456))
    credit(other, 1, expires_in_days=6, now=now + timedelta(microseconds=500))
    check = now + timedelta(seconds=1)
    assert webhooks.notify_expiring_points(now=check) == 3
    for delivery in WebhookDelivery.objects.all():
        data = body_of(delivery)["data"]
        lot_member = Member.objects.get(pk=data["member_id"])
        expires_at = min(lot.expires_at for lot in lot_member.lots.all()
                         if timezone.localdate(lot.expires_at).isoformat()
                         == delivery.event_key.rsplit(":", 1)[1])
        expected = webhooks._body(
            delivery_uuid=delivery.uuid, event="points.expiring", now=check,
            payload={"member_id": lot_member.pk, "card_number": lot_member.card_number,
                     "points": data["points"], "expires_at": expires_at})
        assert delivery.body == expected
        assert (delivery.endpoint, delivery.status, delivery.next_attempt_at) == (
            endpoint, Status.PENDING, check)
    assert {body_of(d)["data"]["points"] for d in WebhookDelivery.objects.all()} == {30, 12, 1}
    assert webhooks.notify_expiring_points(now=check) == 0


# --- Delivering -----------------------------------------------------------------------------


def test_a_delivery_reaches_a_real_server_with_the_exact_signed_body(
        receiver, store, scale, member, django_capture_on_commit_callbacks):
    endpoint = endpoint_for(store, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        buy(store, member)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        Status.DELIVERED, 1, 200)
    assert delivery.delivered_at is not None
    [request] = receiver.requests
    headers = request["headers"]
    assert request["path"] == "/hooks/loyalty"
    assert request["body"] == delivery.body.encode()
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Loyalty-Event"] == "points.earned"
    assert headers["X-Loyalty-Delivery"] == str(delivery.uuid)
    assert headers["X-Loyalty-Signature"].startswith("v1=")
    assert webhook_delivery.verify_signature(secret=endpoint.secret,
                                     timestamp=headers["X-Loyalty-Timestamp"],
                                     body=request["body"],
                                     signature=headers["X-Loyalty-Signature"])
    assert not webhook_delivery.verify_signature(secret=endpoint.secret,
                                         timestamp=headers["X-Loyalty-Timestamp"],
                                         body=request["body"].replace(b"40", b"41"),
                                         signature=headers["X-Loyalty-Signature"])


def send(delivery):
    """The worker's task on one claimed delivery, as the hand-over would run it."""
    delivery.refresh_from_db()
    return send_webhooks.apply(args=[[delivery.pk], str(delivery.claim)]).get()


def test_a_delivered_delivery_is_not_sent_again(receiver, store):
    endpoint_for(store, url=receiver.url)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    claim = str(delivery.claim)
    assert send_webhooks.apply(args=[[delivery.pk], claim]).get() == {"delivered": 1}
    # The same batch handed over twice (a broker redelivery): the claim is spent.
    assert send_webhooks.apply(args=[[delivery.pk], claim]).get() == {"skipped": 1}
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.claim, delivery.next_attempt_at) == (
        Status.DELIVERED, None, None)


@pytest.mark.parametrize("answer", [500, 302, "refused"])
def test_a_failing_endpoint_never_fails_the_purchase(
        answer, refused_url, store, scale, member, django_capture_on_commit_callbacks):
    now = timezone.now()
    with Receiver(status=500 if answer == "refused" else answer) as server, \
            time_machine.travel(now, tick=False):
        endpoint_for(store, url=refused_url if answer == "refused" else server.url)
        with django_capture_on_commit_callbacks(execute=True):
            recorded = buy(store, member)
    assert recorded.created and recorded.obj.points_earned == 40
    member.refresh_from_db()
    assert member.balance == 40
    delivery = WebhookDelivery.objects.get()
    # Due again in 30 s, in the database: the dispatcher will try again.
    assert (delivery.status, delivery.attempts, delivery.failures) == (Status.RETRYING, 1, 1)
    assert delivery.next_attempt_at == now + timedelta(seconds=30)
    assert delivery.delivered_at is None
    if answer == "refused":
        assert delivery.last_status_code is None
        assert "refused" in delivery.last_error.lower()
    else:
        assert delivery.last_status_code == answer
        assert delivery.last_error.startswith(f"HTTP {answer}")
        assert len(server.requests) == 1  # the redirect was not followed


@pytest.mark.parametrize("failures,countdown", [(0, 30), (1, 60), (3, 240), (7, 3840)])
def test_a_failed_attempt_is_due_again_after_a_backoff_in_the_database(
        failures, countdown, store, refused_url):
    endpoint_for(store, url=refused_url)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(failures=failures)
    now = timezone.now()
    with time_machine.travel(now, tick=False), \
            mock.patch.object(send_webhooks, "retry") as broker_retry:
        assert send(delivery) == {"retrying": 1}
    broker_retry.assert_not_called()  # nothing waits in the broker
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.failures) == (
        Status.RETRYING, 1, failures + 1)
    assert delivery.last_attempt_at == now
    assert delivery.next_attempt_at == now + timedelta(seconds=countdown)
    assert delivery.claim is None


def test_the_backoff_is_capped_at_six_hours():
    assert [webhook_delivery.retry_countdown(n) for n in (0, 1, 2, 9, 10, 20)] == [
        30, 60, 120, 15360, 6 * 3600, 6 * 3600]


def test_the_last_failure_in_a_row_marks_the_delivery_failed(store, refused_url):
    endpoint_for(store, url=refused_url)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        failures=webhook_delivery.MAX_FAILURES - 1)
    assert send(delivery) == {"failed": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == (Status.FAILED, None)
    assert webhook_delivery.dispatch_due(now=timezone.now() + timedelta(days=2)) == 0


def test_a_deactivated_endpoint_is_not_called(receiver, store):
    endpoint = endpoint_for(store, url=receiver.url)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    endpoint.active = False
    endpoint.save()
    assert send(delivery) == {"failed": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (Status.FAILED, 0)
    assert receiver.requests == []


def test_a_url_that_now_leads_to_a_private_address_is_failed_without_a_request(
        receiver, store, settings):
    endpoint_for(store, url=receiver.url)  # 127.0.0.1: allowed when it was saved (tests)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    settings.LOYALTY_WEBHOOK_ALLOW_PRIVATE = False
    assert send(delivery) == {"failed": 1}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        Status.FAILED, 0, None)
    assert "public addresses" in delivery.last_error
    assert receiver.requests == []


@pytest.fixture
def broker_down():
    """Every hand-over to Celery fails as it does with Redis stopped."""
    with mock.patch.object(send_webhooks, "delay", side_effect=ConnectionError("no broker")), \
            mock.patch.object(dispatch_webhooks, "delay",
                              side_effect=ConnectionError("no broker")):
        yield


def test_a_broker_outage_never_reaches_the_purchase_and_loses_nothing(
        receiver, store, scale, member, django_capture_on_commit_callbacks, caplog):
    endpoint_for(store, url=receiver.url)
    with mock.patch.object(send_webhooks, "delay", side_effect=ConnectionError("no broker")), \
            django_capture_on_commit_callbacks(execute=True):
        assert buy(store, member).created
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING and delivery.claim is not None
    assert "Could not hand loyalty.tasks.send_webhooks" in caplog.text
    # Within its lease it is the lost hand-over's; then the dispatcher sends it, once.
    assert webhook_delivery.dispatch_due() == 0
    later = timezone.now() + outbox.lease() + timedelta(seconds=1)
    assert webhook_delivery.dispatch_due(now=later) == 1
    assert webhook_delivery.dispatch_due(now=later) == 0
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert len(receiver.requests) == 1


def test_a_lapsed_claim_cannot_send_what_the_dispatcher_took_back(receiver, store):
    endpoint_for(store, url=receiver.url)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    old_claim = str(delivery.claim)
    later = timezone.now() + outbox.lease() + timedelta(seconds=1)
    with mock.patch.object(send_webhooks, "delay") as handed:
        assert webhook_delivery.dispatch_due(now=later) == 1
    [(ids, new_claim)] = [call.args for call in handed.call_args_list]
    assert ids == [delivery.pk] and new_claim != old_claim
    # The first worker wakes up late: its claim is gone; the new holder sends it.
    assert send_webhooks.apply(args=[[delivery.pk], old_claim]).get() == {"skipped": 1}
    assert send_webhooks.apply(args=[ids, new_claim]).get() == {"delivered": 1}
    assert len(receiver.requests) == 1


def test_the_dispatcher_hands_over_due_deliveries_in_batches_oldest_first(store):
    endpoint = endpoint_for(store)
    now = timezone.now()
    due = [WebhookDelivery.objects.create(
        endpoint=endpoint, event="points.earned", event_key=f"purchase:{n}", body="{}",
        created_at=now, next_attempt_at=now - timedelta(minutes=n)) for n in range(1, 121)]
    WebhookDelivery.objects.create(endpoint=endpoint, event="points.earned",
                                   event_key="future", body="{}", created_at=now,
                                   next_attempt_at=now + timedelta(minutes=5))
    WebhookDelivery.objects.create(endpoint=endpoint, event="points.earned", event_key="done",
                                   body="{}", created_at=now, status=Status.DELIVERED,
                                   next_attempt_at=None)
    with mock.patch.object(send_webhooks, "delay") as handed:
        assert webhook_delivery.dispatch_due(now=now) == 120
    batches = [call.args[0] for call in handed.call_args_list]
    assert [len(batch) for batch in batches] == [50, 50, 20]
    assert batches[0][0] == due[-1].pk  # the longest overdue first
    assert sorted(sum(batches, [])) == sorted(d.pk for d in due)
    # Claimed: not due again within the lease.
    with mock.patch.object(send_webhooks, "delay") as handed:
        assert webhook_delivery.dispatch_due(now=now) == 0


def test_the_dispatcher_stops_when_the_broker_refuses_and_loses_nothing(store, broker_down):
    endpoint = endpoint_for(store)
    now = timezone.now()
    for n in range(3):
        WebhookDelivery.objects.create(endpoint=endpoint, event="points.earned",
                                       event_key=f"purchase:{n}", body="{}", created_at=now,
                                       next_attempt_at=now)
    assert webhook_delivery.dispatch_due(now=now) == 0
    later = now + outbox.lease() + timedelta(seconds=1)
    assert WebhookDelivery.objects.filter(next_attempt_at__lte=later,
                                          status=Status.PENDING).count() == 3


def test_a_database_error_while_sending_is_retried_soon_with_the_same_claim(receiver, store):
    from celery.exceptions import Retry
    from django.db import OperationalError

    endpoint_for(store, url=receiver.url)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    args = [[delivery.pk], str(delivery.claim)]
    # As a worker runs it (not eagerly), while PostgreSQL restarts.
    send_webhooks.push_request(retries=0, is_eager=False, called_directly=False, args=args,
                               kwargs={})
    try:
        with mock.patch.object(webhook_delivery, "attempt",
                               side_effect=OperationalError("server closed the connection")), \
                mock.patch.object(send_webhooks, "retry", side_effect=Retry()) as retry, \
                pytest.raises(Retry):
            send_webhooks.run(*args)
    finally:
        send_webhooks.pop_request()
    assert isinstance(retry.call_args.kwargs["exc"], OperationalError)
    assert retry.call_args.kwargs["countdown"] <= 60
    # The retry, with the same claim, sends it.
    assert send_webhooks.apply(args=args).get() == {"delivered": 1}
    assert len(receiver.requests) == 1


def test_requeue_sends_failed_deliveries_again_and_only_those(
        store, django_capture_on_commit_callbacks):
    endpoint_for(store)
    failed, delivered = (webhooks.emit(event="points.earned", payload={}, store=store,
                                       event_key=f"purchase:{n}")[0] for n in (1, 2))
    WebhookDelivery.objects.filter(pk=failed.pk).update(status=Status.FAILED, failures=9,
                                                        next_attempt_at=None)
    WebhookDelivery.objects.filter(pk=delivered.pk).update(status=Status.DELIVERED)
    with mock.patch.object(send_webhooks, "delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        assert webhook_delivery.requeue(delivery_ids=[failed.pk, delivered.pk]) == 1
    failed.refresh_from_db()
    delay.assert_called_once_with([failed.pk], str(failed.claim))
    assert (failed.status, failed.failures) == (Status.PENDING, 0)


# --- Admin ----------------------------------------------------------------------------------


@pytest.fixture
def root_client(client):
    client.force_login(UserFactory(email="root@example.com", is_staff=True,
                                   is_superuser=True))
    return client


def admin_url(model, view, *args):
    return reverse(f"admin:loyalty_{model._meta.model_name}_{view}", args=args)


def test_the_webhook_admin_pages_load(root_client, store):
    endpoint = endpoint_for(store)
    [delivery] = webhooks.emit(event="points.earned", payload={"note": "<b>x</b>"},
                               store=store, event_key="purchase:1")
    for model, obj in ((WebhookEndpoint, endpoint), (WebhookDelivery, delivery)):
        assert root_client.get(admin_url(model, "changelist")).status_code == 200
        page = root_client.get(admin_url(model, "change", obj.pk))
        assert page.status_code == 200
    assert endpoint.secret in root_client.get(
        admin_url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    body = root_client.get(admin_url(WebhookDelivery, "change", delivery.pk)).content.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in body
    assert root_client.get(admin_url(WebhookEndpoint, "add")).status_code == 200
    assert root_client.get(admin_url(WebhookDelivery, "add")).status_code == 403
    for filters in ({"status__exact": "pending"}, {"event__exact": "points.earned"},
                    {"endpoint__id__exact": endpoint.pk}, {"q": "purchase:1"}):
        listed = root_client.get(admin_url(WebhookDelivery, "changelist"), filters)
        assert list(listed.context["cl"].result_list) == [delivery]


def test_an_endpoint_is_added_with_events_to_choose(root_client, store):
    response = root_client.post(admin_url(WebhookEndpoint, "add"), {
        "store": store.pk, "url": "https://shop.example.com/hooks", "description": "",
        "events": ["points.earned", "voucher.issued"], "active": "on"})
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["points.earned", "voucher.issued"]
    assert len(endpoint.secret) >= 40


def test_the_admin_refuses_a_url_that_is_not_http(root_client, store):
    response = root_client.post(admin_url(WebhookEndpoint, "add"), {
        "store": store.pk, "url": "file:///etc/passwd", "events": ["points.earned"]})
    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    assert not WebhookEndpoint.objects.exists()


def test_the_rotate_action_gives_a_new_secret(root_client, store):
    endpoint = endpoint_for(store)
    old = endpoint.secret
    root_client.post(admin_url(WebhookEndpoint, "changelist"), {
        "action": "rotate_secret", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.secret != old


def test_the_retry_action_requeues_failed_deliveries_through_the_service(
        root_client, store, django_capture_on_commit_callbacks):
    endpoint_for(store)
    [delivery] = webhooks.emit(event="points.earned", payload={}, store=store,
                               event_key="purchase:1")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=Status.FAILED)
    with mock.patch.object(send_webhooks, "delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        response = root_client.post(admin_url(WebhookDelivery, "changelist"), {
            "action": "retry_now", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200
    delivery.refresh_from_db()
    delay.assert_called_once_with([delivery.pk], str(delivery.claim))
    assert delivery.status == Status.PENDING
