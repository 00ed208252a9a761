"""Redis stops in the middle of a stream of purchases, then comes back: nothing fails.

A private redis-server (tests/faults/harness.py: its own port and directory, no
persistence) is the cache and the Celery broker for this test; the machine's Redis is
never touched. Purchases through the API
(with Idempotency-Key, webhooks subscribed so every purchase publishes a task), member
reads, the portal, a login and the till go on while it is stopped; every answer must be
2xx (or the till's and login's own redirects), each purchase recorded once and the ledger
sound.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import reverse
from kombu import pools as kombu_pools

from accounts.models import StaffRole
from loyalty import health, redis_cache
from loyalty.celery import app as celery_app
from loyalty.models import PointsEntry, Purchase, WebhookEndpoint, WebhookEvent
from tests.api.conftest import key_client
from tests.factories import StaffRoleFactory, UserFactory
from tests.portal.conftest import member_with_login

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HX = {"HTTP_HX_REQUEST": "true"}


@contextmanager
def celery_broker(url):
    """Celery publishes to `url` for real (not eagerly) inside the block."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager

    def reset_pools():
        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        celery_app._pool = None
        celery_app.amqp._producer_pool = None
        # kombu keeps producer pools per broker URL in a registry of its own: drop them
        # too, or the next test acquires from the pool closed here ("Acquire on closed
        # pool": even an eager task takes a producer).
        kombu_pools.reset()

    reset_pools()
    conf.broker_url, conf.task_always_eager = url, False
    try:
        yield
    finally:
        reset_pools()
        conf.broker_url, conf.task_always_eager = saved


def answered(response) -> bool:
    return 200 <= response.status_code < 300 or response.status_code == 302


def test_purchases_pages_and_the_till_go_on_while_redis_is_stopped(
        private_redis, api_key, member, web, paris, monkeypatch):
    monkeypatch.setattr(redis_cache, "BREAKER_SECONDS", 0.5)  # recovery seen within the test
    cache = {"default": {
        "BACKEND": "loyalty.redis_cache.FailOpenRedisCache", "LOCATION": private_redis.url,
        "KEY_PREFIX": "fault-test",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0}}}
    WebhookEndpoint.objects.create(store=web,
                                   url="http://127.0.0.1:9/hooks",
                                   events=list(WebhookEvent.values))
    _, secret = api_key()
    shop = key_client(secret, raise_request_exception=False)
    customer = member_with_login(email="reader@example.com", first_name="Rea")
    cashier = StaffRoleFactory(store=paris, role=StaffRole.Role.CASHIER,
                               user=UserFactory(email="till@example.com")).user
    counts = {"before": 0, "during": 0, "after": 0}
    failures: list[tuple[str, int, bytes]] = []
    orders: list[str] = []
    publish_seconds: list[float] = []
    healthz: list[str] = []

    def check(label, response):
        if not answered(response):
            failures.append((label, response.status_code, response.content[:300]))

    def purchase(phase, number):
        order = f"W-{phase}-{number}"
        started = time.monotonic()
        response = shop.post("/api/v1/purchases/", {
            "order_id": order, "amount": "10.00", "member_id": member.pk},
            format="json", HTTP_IDEMPOTENCY_KEY=f"key-{order}")
        publish_seconds.append(time.monotonic() - started)
        check(f"purchase {order}", response)
        orders.append(order)
        counts[phase] += 1

    def pages(phase):
        healthz.append(Client().get("/healthz").json()["status"])
        check(f"member read {phase}", shop.get(f"/api/v1/members/{member.pk}/"))
        portal = Client(raise_request_exception=False)
        check(f"login {phase}", portal.post(reverse("account_login"), {
            "login": "reader@example.com", "password": "demo-password"}))
        check(f"portal {phase}", portal.get("/"))
        check(f"card {phase}", portal.get(reverse("card")))
        till = Client(raise_request_exception=False)
        till.force_login(cashier)
        check(f"till page {phase}", till.get(reverse("staff:scan")))
        check(f"till lookup {phase}", till.post(reverse("staff:lookup"), {
            "store": "paris", "code": customer.card_number}, **HX))
        check(f"till purchase {phase}", till.post(reverse("staff:purchase"), {
            "store": "paris", "member": customer.pk, "amount": "5.00",
            "order_id": f"till-{phase}", "receipt": ""}, **HX))

    monkeypatch.setattr(health, "_redis_client", None)
    with (override_settings(CACHES=cache, REDIS_URL=private_redis.url),
          celery_broker(private_redis.url)):
        for number in range(20):
            purchase("before", number)
        pages("before")
        assert private_redis.keys() > 0  # the cache and the broker really are this Redis

        private_redis.stop()
        outage_started = time.monotonic()
        for number in range(60):
            purchase("during", number)
            if number % 20 == 0:
                pages(f"during-{number}")
        outage_seconds = time.monotonic() - outage_started

        private_redis.start()  # empty, as after a restart without persistence
        time.sleep(redis_cache.BREAKER_SECONDS + 0.1)
        for number in range(20):
            purchase("after", number)
        pages("after")
        assert private_redis.keys() > 0  # back in use once it answers

        # Every purchase's retry replays the first answer: recorded once.
        for order in orders[::10]:
            again = shop.post("/api/v1/purchases/", {
                "order_id": order, "amount": "10.00", "member_id": member.pk},
                format="json", HTTP_IDEMPOTENCY_KEY=f"key-{order}")
            assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"

    during = sorted(publish_seconds[20:80])
    print(f"\nfault test: {counts} API purchases, outage of {outage_seconds:.1f} s; a purchase "
          f"during it took {during[len(during) // 2]:.2f} s (median), {during[-1]:.2f} s at most")
    assert failures == []
    assert healthz == ["ok", "degraded", "degraded", "degraded", "ok"]
    assert counts == {"before": 20, "during": 60, "after": 20}
    api_orders = set(Purchase.objects.filter(order_id__startswith="W-")
                     .values_list("order_id", flat=True))
    assert api_orders == set(orders) and len(orders) == 100
    assert Purchase.objects.filter(order_id__startswith="till-").count() == 5
    assert PointsEntry.objects.filter(member=member, kind="earn").count() == 100
    member.refresh_from_db()
    assert member.balance == 1000
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["ok"] is True
