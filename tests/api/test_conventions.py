"""Conventions of the contract: authentication, the one error shape, JSON only,
unknown URLs, methods and media types, malformed input and throttling."""

import pytest
from rest_framework.test import APIClient

from loyalty.api.throttling import CallerRateThrottle
from loyalty.services.apikeys import revoke_api_key
from tests.api.conftest import assert_error, key_client

MEMBERS = "/api/v1/members/"


# --- 401 not_authenticated ------------------------------------------------------------


@pytest.mark.parametrize("path,method", [
    (MEMBERS + "?email=a@example.com", "get"),
    ("/api/v1/members/1/", "get"),
    ("/api/v1/members/1/transactions/", "get"),
    ("/api/v1/members/1/merge/", "post"),
    ("/api/v1/purchases/", "post"),
    ("/api/v1/purchases/1/refunds/", "post"),
    ("/api/v1/events/", "post"),
    ("/api/v1/cards/resolve/", "post"),
    ("/api/v1/programme/", "get"),
])
def test_every_endpoint_refuses_a_request_without_a_key(db, path, method):
    response = getattr(APIClient(), method)(path, {}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_wrong_key_is_401(web):
    response = key_client("not-a-key").get("/api/v1/programme/")
    assert_error(response, 401, "not_authenticated")


def test_a_right_prefix_with_a_wrong_secret_is_401(api_key):
    key, secret = api_key()
    prefix = secret.partition(".")[0]
    response = key_client(f"{prefix}.{'x' * 32}").get("/api/v1/programme/")
    assert_error(response, 401, "not_authenticated")


def test_a_revoked_key_is_401(api_client):
    client = api_client()
    assert client.get("/api/v1/programme/").status_code == 200
    revoke_api_key(prefix=client.api_key.prefix)
    assert_error(client.get("/api/v1/programme/"), 401, "not_authenticated")


def test_a_key_of_an_inactive_store_is_401(api_client, web):
    client = api_client()
    web.active = False
    web.save()
    assert_error(client.get("/api/v1/programme/"), 401, "not_authenticated")


def test_an_absurdly_long_authorization_header_is_401_not_5xx(web):
    response = key_client("p." + "x" * 5000).get("/api/v1/programme/")
    assert_error(response, 401, "not_authenticated")


def test_a_key_records_when_it_was_last_used(api_client):
    client = api_client()
    assert client.api_key.last_used_at is None
    client.get("/api/v1/programme/")
    client.api_key.refresh_from_db()
    assert client.api_key.last_used_at is not None


# --- 403 permission_denied ------------------------------------------------------------


@pytest.mark.parametrize("scopes,method,path", [
    (["members:read"], "post", "/api/v1/purchases/"),
    (["members:read"], "post", "/api/v1/purchases/1/refunds/"),
    (["members:read"], "post", "/api/v1/events/"),
    (["members:read"], "post", MEMBERS),
    (["members:read"], "post", "/api/v1/members/1/merge/"),
    (["purchases:write"], "get", MEMBERS + "?email=a@example.com"),
    (["purchases:write"], "get", "/api/v1/members/1/"),
    (["purchases:write"], "get", "/api/v1/members/1/transactions/"),
    (["purchases:write"], "post", "/api/v1/cards/resolve/"),
])
def test_a_key_without_the_needed_scope_is_403(api_client, scopes, method, path):
    client = api_client(scopes=scopes)
    response = getattr(client, method)(path, {}, format="json")
    assert_error(response, 403, "permission_denied")


def test_the_programme_needs_no_particular_scope(api_client):
    assert api_client(scopes=["redeem"]).get("/api/v1/programme/").status_code == 200


# --- unknown URLs, methods, media types, malformed bodies ------------------------------


@pytest.mark.parametrize("path", [
    "/api/v1/nothing-here/",
    "/api/v2/members/",
    "/api/v1/members/abc/",
    "/api/v1/members/1/nothing/",
    "/api/v1/purchases/abc/refunds/",
])
def test_an_unknown_api_url_is_a_json_404(client_web, path):
    assert_error(client_web.get(path), 404, "not_found")


def test_an_unknown_api_url_is_a_json_404_even_without_a_key(db):
    assert_error(APIClient().get("/api/v1/nothing-here/"), 404, "not_found")


@pytest.mark.parametrize("method,path", [
    ("delete", MEMBERS),
    ("put", "/api/v1/members/1/"),
    ("get", "/api/v1/purchases/"),
    ("patch", "/api/v1/events/"),
    ("get", "/api/v1/cards/resolve/"),
    ("post", "/api/v1/programme/"),
])
def test_a_method_the_endpoint_does_not_have_is_405(client_web, method, path):
    response = getattr(client_web, method)(path)
    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/v1/purchases/", MEMBERS, "/api/v1/events/",
                                  "/api/v1/cards/resolve/"])
def test_a_body_that_is_not_json_is_415(client_web, path):
    response = client_web.post(path, "order_id=A1&amount=10", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_a_form_encoded_body_is_415(client_web, member):
    response = client_web.post("/api/v1/purchases/", {"order_id": "A1", "amount": "10.00",
                                                      "member_id": member.pk})
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("body", [
    "{", '{"order_id": "A1",}', "{'order_id': 'A1'}", '{"amount": NaN}',
    '{"amount": Infinity}', "\x00\x01", '{"amount": "10.00"} trailing',
])
def test_malformed_json_is_400_invalid(client_web, member, body):
    response = client_web.post("/api/v1/purchases/", body, content_type="application/json")
    assert_error(response, 400, "invalid")


def test_bytes_that_are_not_utf8_are_400(client_web, member):
    response = client_web.post("/api/v1/purchases/", b'{"order_id": "\xff\xfe"}',
                               content_type="application/json")
    assert_error(response, 400, "invalid")


@pytest.mark.parametrize("body", ["[]", "null", "42", '"text"', "true"])
def test_json_that_is_not_an_object_is_400_invalid(client_web, member, body):
    response = client_web.post("/api/v1/purchases/", body, content_type="application/json")
    assert_error(response, 400, "invalid")


def test_deeply_nested_json_is_400_not_500(api_client, member):
    client = api_client(raise_request_exception=False)
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/purchases/", body, content_type="application/json")
    assert_error(response, 400, "invalid")


def test_a_validation_error_names_its_fields(client_web, member):
    response = client_web.post("/api/v1/purchases/", {"amount": "ten"}, format="json")
    error = assert_error(response, 400, "invalid")
    assert {"order_id", "amount"} <= set(error["fields"])
    assert all(isinstance(message, str) for message in error["fields"].values())


def test_an_item_error_from_the_service_is_named_items_index_field(client_web, member):
    response = client_web.post("/api/v1/purchases/", {
        "order_id": "A1", "amount": "10.00", "member_id": member.pk,
        "items": [{"sku": "A", "quantity": 1, "unit_price": "1.00"},
                  {"sku": "B\x07", "quantity": 1, "unit_price": "1.00"}]}, format="json")
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"items[1].sku"}, error


def test_nested_validation_errors_are_flattened_with_their_path(client_web, member):
    response = client_web.post("/api/v1/purchases/", {
        "order_id": "A1", "amount": "10.00", "member_id": member.pk,
        "items": [{"sku": "A", "quantity": 1, "unit_price": "1.00"},
                  {"sku": "B", "quantity": 0, "unit_price": "1.00"}]}, format="json")
    error = assert_error(response, 400, "invalid")
    assert "items[1].quantity" in error["fields"], error


# --- 429 throttled ----------------------------------------------------------------------


@pytest.fixture
def three_per_minute(settings, monkeypatch):
    """The throttle rate overridden to 3 a minute.

    DRF's SimpleRateThrottle copies DEFAULT_THROTTLE_RATES into a class attribute at
    import, so changing the setting alone does not reach it: the class attribute is
    patched as well.
    """
    rates = {"api": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(CallerRateThrottle, "THROTTLE_RATES", rates)


def test_too_many_requests_are_429_throttled(api_client, three_per_minute):
    client = api_client()
    for _ in range(3):
        assert client.get("/api/v1/programme/").status_code == 200
    response = client.get("/api/v1/programme/")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_the_throttle_counts_per_key(api_client, three_per_minute):
    first, second = api_client(), api_client()
    for _ in range(3):
        first.get("/api/v1/programme/")
    assert first.get("/api/v1/programme/").status_code == 429
    assert second.get("/api/v1/programme/").status_code == 200
