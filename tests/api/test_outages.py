"""Faults seen from the API and the pages: Redis down, the database down.

Redis is a cache and a broker: with it raising, purchases and reads go on. A database that
does not answer is a 503 `service_unavailable` with Retry-After, never a 500, and the next
request reconnects.
"""

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client

from loyalty.models import IdempotencyRecord, Purchase
from tests.api.conftest import assert_error
from tests.factories import UserFactory
from tests.loyalty.test_fail_open import closed_port, make_dead_cache


@pytest.fixture
def dead_cache(monkeypatch):
    from loyalty.services import settings_cache

    yield make_dead_cache(monkeypatch)
    settings_cache._copies.clear()


def outage(*args, **kwargs):
    raise OperationalError("connection to server at \"127.0.0.1\", port 5432 failed: "
                           "Connection refused")


def assert_retry_later(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Cache-Control"] == "no-store"


# --- the API with a dead cache ---------------------------------------------------------------


def test_purchases_and_reads_go_on_with_a_dead_cache(client_web, member, dead_cache):
    for number in range(3):
        response = client_web.post("/api/v1/purchases/", {
            "order_id": f"W-{number}", "amount": "10.00", "member_id": member.pk},
            format="json", HTTP_IDEMPOTENCY_KEY=f"k-{number}")
        assert response.status_code == 201, response.content
    assert client_web.get(f"/api/v1/members/{member.pk}/").json()["points"]["balance"] == 30
    assert Purchase.objects.count() == 3
    assert dead_cache.calls > 0


def test_the_throttle_counts_in_the_process_when_the_cache_raises(client_web, member,
                                                                  dead_cache, monkeypatch):
    monkeypatch.setattr("loyalty.api.throttling.CallerRateThrottle.THROTTLE_RATES",
                        {"api": "3/min"})
    from loyalty.api.throttling import LOCAL_COUNTERS

    LOCAL_COUNTERS.clear()
    statuses = [client_web.get(f"/api/v1/members/{member.pk}/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # the same budget, kept in this process
    assert_error(client_web.get(f"/api/v1/members/{member.pk}/"), 429, "throttled")
    LOCAL_COUNTERS.clear()


# --- the database down: 503 ------------------------------------------------------------------


def test_a_database_outage_in_an_api_view_is_503_service_unavailable(client_web, member,
                                                                    monkeypatch):
    monkeypatch.setattr("loyalty.selectors.member_payload", outage)
    response = client_web.get(f"/api/v1/members/{member.pk}/")
    assert_error(response, 503, "service_unavailable")
    assert_retry_later(response)


def test_a_purchase_cut_by_an_outage_stores_nothing_and_its_retry_runs(client_web, member,
                                                                     monkeypatch):
    payload = {"order_id": "W-1", "amount": "10.00", "member_id": member.pk}
    with monkeypatch.context() as patched:
        patched.setattr("loyalty.services.purchases.record_purchase", outage)
        response = client_web.post("/api/v1/purchases/", payload, format="json",
                                   HTTP_IDEMPOTENCY_KEY="k-1")
    assert_error(response, 503, "service_unavailable")
    assert not IdempotencyRecord.objects.exists()
    again = client_web.post("/api/v1/purchases/", payload, format="json",
                            HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Purchase.objects.count() == 1


def test_a_database_outage_on_a_page_is_a_translated_503_page(db, client, monkeypatch):
    client.force_login(UserFactory(email="reader@example.com"))
    monkeypatch.setattr("loyalty.portal.views.Programme.load", outage)
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr")
    assert_retry_later(response)
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert '<html lang="fr">' in page
    assert "Retry-After" not in page and "Traceback" not in page


def test_an_outage_raised_in_a_middleware_is_503_too(client_web, member, monkeypatch):
    """Not a view's error (the session, the user): handler500 answers it as a 503."""
    monkeypatch.setattr("django.middleware.common.CommonMiddleware.process_request", outage)
    client_web.raise_request_exception = False
    response = client_web.get(f"/api/v1/members/{member.pk}/")
    assert_error(response, 503, "service_unavailable")
    assert_retry_later(response)
    page = Client(raise_request_exception=False).get("/")
    assert_retry_later(page)
    assert page["Content-Type"].startswith("text/html")


def test_other_errors_are_still_500(client_web, member, monkeypatch):
    def bug(*args, **kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr("loyalty.selectors.member_payload", bug)
    client_web.raise_request_exception = False
    assert_error(client_web.get(f"/api/v1/members/{member.pk}/"), 500, "server_error")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_real_postgresql_outage_is_503_then_the_next_request_reconnects(api_client, member):
    """The server ends our connection (as a restart does) and refuses new ones for a while:
    503 each time, then 200 once it answers again, on a fresh connection."""
    client = api_client("web")
    client.raise_request_exception = False
    page_client = Client(raise_request_exception=False)
    page_client.force_login(UserFactory(email="reader@example.com"))
    url = f"/api/v1/members/{member.pk}/"
    assert client.get(url).status_code == 200
    settings = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg.connect(host=settings["HOST"], port=settings["PORT"] or 5432,
                         user=settings["USER"], dbname=settings["NAME"],
                         password=settings["PASSWORD"] or None, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    real_port = settings["PORT"]
    settings["PORT"] = str(closed_port())  # while "restarting", connections are refused
    try:
        cut = client.get(url)  # on the connection the server ended
        assert_error(cut, 503, "service_unavailable")
        assert_retry_later(cut)
        refused = client.get(url)  # a new connection, refused
        assert_error(refused, 503, "service_unavailable")
        assert_retry_later(page_client.get("/"))
        purchase = client.post("/api/v1/purchases/", {
            "order_id": "W-OUT", "amount": "10.00", "member_id": member.pk},
            format="json", HTTP_IDEMPOTENCY_KEY="k-out")
        assert_error(purchase, 503, "service_unavailable")
    finally:
        settings["PORT"] = real_port
    assert client.get(url).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid
    retried = client.post("/api/v1/purchases/", {
        "order_id": "W-OUT", "amount": "10.00", "member_id": member.pk},
        format="json", HTTP_IDEMPOTENCY_KEY="k-out")
    assert retried.status_code == 201
    assert page_client.get("/").status_code == 200
