"""Webhook deliveries survive Redis restarts, Redis outages and killed workers.

A receiver counts what it is sent by delivery id; a real worker sends; beat's
dispatcher is run by hand, a tick at a time. Every delivery must arrive, and
the only ones that may arrive twice are those in flight when a worker died.
"""

import time

import pytest
from django.utils import timezone

from loyalty.models import WebhookDelivery, WebhookEndpoint
from tests.factories import StoreFactory
from tests.faults.harness import Worker, app_env, beat_tick, run_python, wait_until
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

Status = WebhookDelivery.Status
# Short, so that what a fault leaves behind is due again within the test.
LEASE_SECONDS = "10"


def due_deliveries(count: int, url: str) -> list[WebhookDelivery]:
    endpoint = WebhookEndpoint.objects.create(store=StoreFactory(), url=url,
                                              events=["points.earned"])
    now = timezone.now()
    return WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, event="points.earned", event_key=f"purchase:{n}",
                        body=f'{{"n":{n}}}', created_at=now, next_attempt_at=now)
        for n in range(count))


def delivered() -> int:
    return WebhookDelivery.objects.filter(status=Status.DELIVERED).count()


def tick_until_all_delivered(env, count: int, *, timeout: float, worker: Worker) -> None:
    """Beat's ticks (every 2 s here, every minute in production) until all are sent."""
    deadline = time.monotonic() + timeout
    while delivered() < count:
        assert worker.alive, "the worker exited:\n" + worker.output()[-3000:]
        if time.monotonic() > deadline:
            raise AssertionError(f"{delivered()} of {count} delivered after {timeout} s")
        beat_tick(env)
        time.sleep(2)


def test_a_redis_restart_under_a_busy_worker_loses_nothing_and_repeats_nothing(
        private_redis, tmp_path):
    count = 150
    with Receiver(delay=0.03) as receiver:
        deliveries = due_deliveries(count, receiver.url)
        env = app_env(redis_url=private_redis.url, LOYALTY_OUTBOX_LEASE_SECONDS=LEASE_SECONDS)
        with Worker(env, tmp_path / "worker.log") as worker:
            # Tasks waiting for their countdown are held unacknowledged by the worker: what
            # made kombu's Redis transport crash the worker on a restart (AttributeError
            # 'NoneType' object has no attribute 'hostname', while restoring them).
            run_python("from loyalty.tasks import send_webhooks\n"
                       "for _ in range(3):\n"
                       "    send_webhooks.apply_async(args=[[], 'none'], countdown=600)", env)
            assert beat_tick(env) == count  # three batches wait in Redis, one per worker runs
            wait_until(lambda: delivered() >= 20, timeout=60, what="the first deliveries")
            # Redis dies and comes back empty: the queued batches and the unacknowledged
            # ones are gone with it.
            private_redis.restart()
            tick_until_all_delivered(env, count, timeout=120, worker=worker)
            assert worker.alive, worker.output()[-3000:]
    received = receiver.deliveries()
    assert set(received) == {str(delivery.uuid) for delivery in deliveries}
    # The worker never died, so no post was cut short: nothing arrived twice.
    assert max(received.values()) == 1
    assert "Traceback" not in worker.output()


def test_a_killed_worker_leaves_only_its_in_flight_deliveries_to_repeat(
        private_redis, tmp_path):
    count, concurrency = 60, 2
    with Receiver(delay=0.2) as receiver:
        deliveries = due_deliveries(count, receiver.url)
        env = app_env(redis_url=private_redis.url, LOYALTY_OUTBOX_LEASE_SECONDS=LEASE_SECONDS)
        first = Worker(env, tmp_path / "first.log", concurrency=concurrency).start()
        try:
            assert beat_tick(env) == count
            wait_until(lambda: delivered() >= 5, timeout=60, what="the first deliveries")
            first.kill()  # mid-batch, posts in flight
        finally:
            first.kill()
        assert delivered() < count
        with Worker(env, tmp_path / "second.log", concurrency=concurrency) as second:
            tick_until_all_delivered(env, count, timeout=120, worker=second)
    received = receiver.deliveries()
    assert set(received) == {str(delivery.uuid) for delivery in deliveries}
    repeated = sum(times - 1 for times in received.values())
    assert repeated <= concurrency  # at most one post in flight per pool process
    assert WebhookDelivery.objects.exclude(status=Status.DELIVERED).count() == 0


def test_purchases_with_redis_stopped_have_their_webhooks_sent_once_when_it_returns(
        private_redis, tmp_path):
    count = 20
    with Receiver() as receiver:
        store = StoreFactory(code="paris")
        WebhookEndpoint.objects.create(store=store, url=receiver.url, events=["points.earned"])
        env = app_env(redis_url=private_redis.url, LOYALTY_OUTBOX_LEASE_SECONDS=LEASE_SECONDS)
        private_redis.stop()
        # Purchases made while Redis is down (a web process): each one commits and its
        # hand-over to Celery fails; the till does not notice.
        made = run_python(f"""
from loyalty.models import Store
from loyalty.services import members, purchases
from tests.factories import EarningRuleFactory, programme
programme(return_window_days=0, points_validity_days=365)
EarningRuleFactory(name="1 point per euro", points_per_unit=1)
store = Store.objects.get(code="paris")
member = members.create_member(email="outage@example.com", first_name="Ada")
made = sum(purchases.record_purchase(store=store, order_id=f"R{{n}}", amount="12.00",
                                     member=member).created for n in range({count}))
print(made)
""", env).splitlines()[-1]
        assert made == str(count)
        assert WebhookDelivery.objects.filter(status=Status.PENDING).count() == count
        assert receiver.requests == []
        private_redis.start()
        with Worker(env, tmp_path / "worker.log") as worker:
            tick_until_all_delivered(env, count, timeout=90, worker=worker)
    received = receiver.deliveries()
    assert len(received) == count and max(received.values()) == 1
