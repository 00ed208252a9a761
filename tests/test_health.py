"""`GET /healthz`: 200 while the database answers (Redis down is "degraded", still 200), 503
when it does not; no session, no HTTPS redirect, no host check, a couple of queries."""

import socket

import pytest
from django.db import DatabaseError
from django.test import Client

from loyalty import health

pytestmark = pytest.mark.django_db


def closed_redis_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.fixture(autouse=True)
def fresh_redis_client(monkeypatch):
    monkeypatch.setattr(health, "_redis_client", None)


def test_healthy_without_redis_configured(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "not configured",
                               "detail": ""}
    assert response["Cache-Control"] == "no-store"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_redis_down_is_degraded_but_still_200(client, settings):
    settings.REDIS_URL = closed_redis_url()
    response = client.get("/healthz/")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["redis"]) == ("degraded", "ok", "error")
    assert "works without it" in body["detail"]


def test_the_database_down_is_503(client, settings, monkeypatch):
    settings.REDIS_URL = ""

    class DeadCursor:
        def __enter__(self):
            raise DatabaseError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(type(health.connections["default"]), "cursor",
                        lambda self: DeadCursor())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"] == "error"


def test_a_probe_over_http_by_address_is_answered(settings):
    """The load balancer probes plain HTTP, by address: no redirect, no DisallowedHost."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["loyalty.example.com"]
    settings.REDIS_URL = ""
    probe = Client(raise_request_exception=False, HTTP_HOST="10.0.0.7:8000")
    assert probe.get("/healthz").status_code == 200
    assert probe.get("/").status_code == 400  # the rest of the site still checks the host


def test_healthz_costs_one_query(client, settings, django_assert_max_num_queries):
    settings.REDIS_URL = ""
    with django_assert_max_num_queries(1):
        assert client.get("/healthz").status_code == 200


def test_redis_answering_is_ok(client, settings, monkeypatch):
    settings.REDIS_URL = "redis://redis.internal:6379/0"

    class Answering:
        def ping(self):
            return True

    monkeypatch.setattr(health, "_redis_client", Answering())
    body = client.get("/healthz").json()
    assert (body["status"], body["redis"]) == ("ok", "ok")
