"""The OpenAPI 3 schema at /api/schema/ and the docs at /api/docs/."""

import re

import jsonschema
import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from loyalty.models import Card
from loyalty.services import cards, purchases

OPERATIONS = {  # path: {method: error statuses the contract documents}
    "/api/v1/members/": {"get": {400}, "post": {400, 409}},
    "/api/v1/members/{member_id}/": {"get": {404}},
    "/api/v1/members/{member_id}/transactions/": {"get": {404}},
    "/api/v1/members/{member_id}/merge/": {"post": {400, 404, 409}},
    "/api/v1/purchases/": {"post": {400, 404, 409}},
    "/api/v1/purchases/{purchase_id}/refunds/": {"post": {400, 404, 409}},
    "/api/v1/events/": {"post": {400, 404, 409}},
    "/api/v1/cards/resolve/": {"post": {400, 404, 409}},
    "/api/v1/programme/": {"get": set()},
    "/api/v1/segments/": {"get": set()},
    "/api/v1/segments/{code}/members/": {"get": {404}},
}
EVERY_CALL_CAN_FAIL = {401, 403, 429, 503}  # 503: the database is briefly away


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/",
                                   HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def response_schema(schema, path, method, status):
    content = schema["paths"][path][method]["responses"][str(status)]["content"]
    return content["application/json"]["schema"]


def test_the_schema_is_a_valid_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any deviation from the OpenAPI 3 JSON schema


def test_the_schema_is_served_as_yaml_by_default(db):
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.parametrize("path,method", [(p, m) for p, ms in OPERATIONS.items() for m in ms])
def test_every_endpoint_is_in_the_schema_with_its_error_responses(schema, path, method):
    assert path in schema["paths"], sorted(schema["paths"])
    operation = schema["paths"][path][method]
    statuses = {int(code) for code in operation["responses"]}
    expected_errors = OPERATIONS[path][method] | EVERY_CALL_CAN_FAIL
    assert expected_errors <= statuses, (path, method, statuses)
    assert statuses & {200, 201}
    for status in expected_errors:
        assert response_schema(schema, path, method, status) == {
            "$ref": "#/components/schemas/Error"}
    assert {"ApiKey": []} in operation["security"]
    if method == "post":
        assert "requestBody" in operation


@pytest.mark.parametrize("path", ["/api/v1/members/", "/api/v1/purchases/",
                                  "/api/v1/purchases/{purchase_id}/refunds/",
                                  "/api/v1/events/", "/api/v1/members/{member_id}/merge/"])
def test_points_moving_posts_document_the_idempotency_key_header(schema, path):
    parameters = schema["paths"][path]["post"].get("parameters", [])
    assert {"in": "header", "name": "Idempotency-Key"}.items() <= next(
        p for p in parameters if p["name"] == "Idempotency-Key").items()


def test_the_api_key_security_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header" and scheme["name"] == "Authorization"


def test_the_error_schema_has_the_contract_shape(schema):
    components = schema["components"]["schemas"]
    assert components["Error"]["required"] == ["error"]
    detail = components["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "fields"}
    assert {"code", "message"} <= set(detail["required"])


def test_the_error_schema_requires_fields(schema):
    assert set(schema["components"]["schemas"]["ErrorDetail"]["required"]) == {
        "code", "message", "fields"}


# --- responses agree with the schema ---------------------------------------------------------


def as_json_schema(node):
    """OpenAPI 3.0's `nullable` as JSON Schema: what jsonschema can check."""
    if isinstance(node, list):
        return [as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def assert_matches_schema(schema, path, method, response):
    document = {"components": as_json_schema(schema["components"]),
                **as_json_schema(response_schema(schema, path, method, response.status_code))}
    jsonschema.validate(response.json(), document)


@pytest.fixture
def calls(client_web, member, web):
    """The happy path of every endpoint, as (path in the schema, method, response)."""
    bought = purchases.record_purchase(store=web, order_id="A1", amount="20.00",
                                       member=member).obj
    other = purchases.record_purchase(store=web, order_id="A2", amount="5.00",
                                      member=member).obj
    from tests.factories import make_member

    duplicate = make_member(email="dup@example.com")
    card = Card.objects.get(number=member.card_number)
    return [
        ("/api/v1/members/", "post",
         client_web.post("/api/v1/members/", {"email": "n@example.com"}, format="json")),
        ("/api/v1/members/{member_id}/", "get", client_web.get(f"/api/v1/members/{member.pk}/")),
        ("/api/v1/members/{member_id}/transactions/", "get",
         client_web.get(f"/api/v1/members/{member.pk}/transactions/")),
        ("/api/v1/members/{member_id}/merge/", "post",
         client_web.post(f"/api/v1/members/{member.pk}/merge/",
                         {"duplicate_id": duplicate.pk}, format="json")),
        ("/api/v1/purchases/", "post",
         client_web.post("/api/v1/purchases/", {"order_id": "A3", "amount": "1.00",
                                                "member_id": member.pk}, format="json")),
        ("/api/v1/purchases/{purchase_id}/refunds/", "post",
         client_web.post(f"/api/v1/purchases/{bought.pk}/refunds/",
                         {"refund_id": "R1", "amount": "5.00"}, format="json")),
        ("/api/v1/events/", "post",
         client_web.post("/api/v1/events/", {"member_id": member.pk, "type": "review_posted",
                                             "event_id": "E1"}, format="json")),
        ("/api/v1/cards/resolve/", "post",
         client_web.post("/api/v1/cards/resolve/", {"token": cards.make_token(card)},
                         format="json")),
        ("/api/v1/programme/", "get", client_web.get("/api/v1/programme/")),
        # errors
        ("/api/v1/purchases/{purchase_id}/refunds/", "post",
         client_web.post(f"/api/v1/purchases/{other.pk}/refunds/",
                         {"refund_id": "R2", "amount": "50.00"}, format="json")),
        ("/api/v1/members/{member_id}/", "get", client_web.get("/api/v1/members/9999/")),
    ]


def test_every_response_matches_its_schema(schema, calls):
    for path, method, response in calls:
        assert response.status_code < 500
        assert_matches_schema(schema, path, method, response)


def test_the_member_search_matches_its_schema(schema, client_web, member):
    response = client_web.get("/api/v1/members/", {"email": member.email})
    assert response.status_code == 200
    assert_matches_schema(schema, "/api/v1/members/", "get", response)


# --- docs --------------------------------------------------------------------------------------

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|cdn|unpkg|jsdelivr""", re.I)


def test_the_docs_page_loads_with_no_external_urls(db):
    client = APIClient()
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "http://" not in html and "https://" not in html
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts and all(src.startswith("/") for src in scripts)
    inline = client.get("/api/docs/?script=")
    assert inline.status_code == 200
    assert "/api/schema/" in inline.content.decode()
    assert not EXTERNAL.search(inline.content.decode())
