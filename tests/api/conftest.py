"""Fixtures for the API tests: stores, keys with chosen scopes, ready clients, a scale.

Assertion helpers for the contract's shapes live here too, so every test checks
the same thing the same way (`assert_error`, `is_money`, `is_time`).
"""

import re
from datetime import datetime

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import StaffRole
from loyalty.services.apikeys import create_api_key
from tests.factories import (
    ActionRuleFactory,
    EarningRuleFactory,
    StaffRoleFactory,
    StoreFactory,
    UserFactory,
    make_member,
    programme,
)
from tests.faults.harness import private_redis  # noqa: F401 - a fixture (Redis outages)

MONEY = re.compile(r"^-?\d+\.\d{2}$")
OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


def is_money(value) -> bool:
    """A decimal string with exactly two places: "49.90"."""
    return isinstance(value, str) and bool(MONEY.match(value))


def is_points(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_time(value) -> bool:
    """ISO 8601 with an offset (or Z)."""
    if not isinstance(value, str) or not OFFSET.search(value):
        return False
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def assert_error(response, status: int, code: str) -> dict:
    """The contract's one error body, exactly: {"error": {"code", "message", "fields"}}."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}, body
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["fields"], dict), body
    return error


def assert_page(body: dict) -> list:
    """A paginated list: {"count", "next", "previous", "results"}."""
    assert set(body) == {"count", "next", "previous", "results"}, body
    assert is_points(body["count"])
    assert body["next"] is None or isinstance(body["next"], str)
    assert body["previous"] is None or isinstance(body["previous"], str)
    assert isinstance(body["results"], list)
    return body["results"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters live in the cache: every test starts with a clean budget."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def web(db):
    """The e-shop: an online store."""
    return StoreFactory(code="web", name="E-shop", kind="online")


@pytest.fixture
def paris(db):
    """A shop in town."""
    return StoreFactory(code="paris", name="Paris")


@pytest.fixture
def api_key(web):
    """make(store="web", scopes=None, name=...) -> (ApiKey, secret), through the service."""

    def make(store: str = "web", scopes: list[str] | None = None, name: str = "e-shop"):
        if store != "web":
            StoreFactory(code=store)
        return create_api_key(name=name, store_code=store, scopes=scopes)

    return make


def key_client(secret: str, **kwargs) -> APIClient:
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


@pytest.fixture
def api_client(api_key):
    """make(store="web", scopes=None) -> an APIClient sending `Authorization: Api-Key <key>`.

    The client carries the key it uses as `client.api_key` (and `client.secret`).
    """

    def make(store: str = "web", scopes: list[str] | None = None, **kwargs) -> APIClient:
        key, secret = api_key(store=store, scopes=scopes)
        client = key_client(secret, **kwargs)
        client.api_key, client.secret = key, secret
        return client

    return make


@pytest.fixture
def client_web(api_client):
    """The e-shop's client, with every scope."""
    return api_client("web")


@pytest.fixture
def scale(db):
    """1 point per euro, points available at once, a year of validity, two actions."""
    programme(return_window_days=0, points_validity_days=365, currency="EUR")
    rule = EarningRuleFactory(name="1 point per euro", points_per_unit=1)
    ActionRuleFactory(event_type="newsletter_signup", name="Newsletter sign-up", points=50,
                      limit_count=1, limit_period="ever")
    ActionRuleFactory(event_type="review_posted", name="Review posted", points=20)
    return rule


@pytest.fixture
def member(scale, web):
    return make_member(first_name="Marie", last_name="Curie", email="marie@example.com",
                       phone="+33612345678")


@pytest.fixture
def cashier(paris):
    """A cashier of paris (and of nowhere else)."""
    return StaffRoleFactory(store=paris, role=StaffRole.Role.CASHIER,
                            user=UserFactory(email="cashier@example.com")).user


@pytest.fixture
def customer(db):
    """A person with a login and no staff role."""
    return UserFactory(email="customer@example.com")


MEMBER_KEYS = {"id", "card_number", "email", "phone", "first_name", "last_name", "external_id",
               "tier", "points", "segment", "created_at"}


def assert_member(body: dict) -> dict:
    """The contract's Member, keys and types."""
    assert set(body) >= MEMBER_KEYS, set(body) ^ MEMBER_KEYS
    assert is_points(body["id"])
    assert isinstance(body["card_number"], str) and body["card_number"].isdigit()
    for name in ("email", "phone", "first_name", "last_name"):
        assert isinstance(body[name], str), (name, body[name])
    assert body["external_id"] is None or isinstance(body["external_id"], str)
    assert body["tier"] is None or set(body["tier"]) == {"code", "name"}
    points = body["points"]
    assert set(points) == {"balance", "pending", "lifetime_earned", "expiring"}, points
    assert all(is_points(points[name]) for name in ("balance", "pending", "lifetime_earned"))
    for lot in points["expiring"]:
        assert set(lot) == {"points", "expires_at"} and is_points(lot["points"]), lot
        assert is_time(lot["expires_at"]), lot
    assert body["segment"] is None or set(body["segment"]) == {"rfm", "name"}
    assert is_time(body["created_at"]), body["created_at"]
    return body
