"""Receipts customers can claim, through the API: sales without a member and their codes."""

from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.models import Purchase, ReceiptClaim
from loyalty.services import claims
from tests.api.conftest import assert_error, is_money, is_time
from tests.api.test_purchases import PURCHASE_KEYS, assert_purchase
from tests.factories import make_member

PURCHASES = "/api/v1/purchases/"
CLAIM_KEYS = {"code", "token", "url", "expires_at"}


def post(client, payload, **extra):
    return client.post(PURCHASES, payload, format="json", **extra)


def claim_path(purchase_id) -> str:
    return f"/api/v1/purchases/{purchase_id}/claim/"


def assert_claim(claim: dict) -> dict:
    assert set(claim) >= CLAIM_KEYS, claim
    assert claim["code"].count("-") == 2 and len(claim["code"]) == 14
    assert claim["token"].startswith("RC1.")
    assert claim["url"] == f"http://127.0.0.1:8000/claim/{claim['token']}/"
    assert is_time(claim["expires_at"])
    return claim


def test_a_sale_without_a_member_answers_with_its_claim(client_web, scale):
    response = post(client_web, {"order_id": "W-1", "amount": "49.90", "member_id": None})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == PURCHASE_KEYS | {"claim"}
    assert body["member_id"] is None and body["balance"] is None
    assert body["points_earned"] == 0 and body["points_breakdown"] == []
    assert is_money(body["amount"]) and body["store"] == "web"
    claim = assert_claim(body["claim"])
    stored = ReceiptClaim.objects.get()
    assert claim["code"] == claims.grouped(stored.code)
    assert stored.purchase_id == body["id"]
    assert Purchase.objects.get().member_id is None


def test_a_member_s_purchase_answers_as_before_without_a_claim(client_web, member):
    body = post(client_web, {"order_id": "W-1", "amount": "49.90",
                             "member_id": member.pk}).json()
    assert set(body) == PURCHASE_KEYS
    assert_purchase(body)
    assert ReceiptClaim.objects.count() == 0


def test_leaving_the_member_out_is_still_400(client_web, scale):
    assert_error(post(client_web, {"order_id": "W-1", "amount": "1.00"}), 400, "invalid")
    both = post(client_web, {"order_id": "W-1", "amount": "1.00", "member_id": None,
                             "card_number": "123"})
    assert_error(both, 400, "invalid")
    assert Purchase.objects.count() == 0


def test_the_same_sale_again_answers_the_first_response_even_once_claimed(client_web, scale):
    payload = {"order_id": "W-1", "amount": "20.00", "member_id": None}
    first = post(client_web, payload).json()
    claims.claim_purchase(code=first["claim"]["token"], member=make_member())
    again = post(client_web, payload)
    assert again.status_code == 201
    assert again.json() == first
    assert_error(post(client_web, {**payload, "amount": "21.00"}), 409, "order_conflict")


def test_an_old_sale_is_recorded_with_no_claim(client_web, scale):
    when = (timezone.now() - timedelta(days=45)).isoformat()
    response = post(client_web, {"order_id": "W-1", "amount": "5.00", "member_id": None,
                                 "occurred_at": when})
    assert response.status_code == 201
    assert response.json()["claim"] is None


# --- POST /purchases/{id}/claim/ ---------------------------------------------------------------


def test_requesting_a_claim_is_idempotent(client_web, scale):
    body = post(client_web, {"order_id": "W-1", "amount": "20.00", "member_id": None}).json()
    first = client_web.post(claim_path(body["id"]), format="json")
    assert first.status_code == 200, first.json()
    assert_claim(first.json())
    assert first.json()["purchase_id"] == body["id"] and first.json()["order_id"] == "W-1"
    assert first.json()["token"] == body["claim"]["token"]
    again = client_web.post(claim_path(body["id"]), format="json")
    assert again.status_code == 200 and again.json() == first.json()
    assert ReceiptClaim.objects.count() == 1


def test_requesting_a_claim_for_a_member_s_purchase_is_409(client_web, member):
    body = post(client_web, {"order_id": "W-1", "amount": "20.00",
                             "member_id": member.pk}).json()
    assert_error(client_web.post(claim_path(body["id"])), 409, "purchase_has_member")


def test_requesting_a_claim_for_a_refunded_sale_or_an_old_one_is_409(client_web, scale):
    old = post(client_web, {"order_id": "W-1", "amount": "5.00", "member_id": None,
                            "occurred_at": (timezone.now() - timedelta(days=45)).isoformat()})
    assert_error(client_web.post(claim_path(old.json()["id"])), 409, "claim_expired")
    ReceiptClaim.objects.all().delete()
    body = post(client_web, {"order_id": "W-2", "amount": "5.00", "member_id": None}).json()
    ReceiptClaim.objects.all().delete()
    refund = client_web.post(f"/api/v1/purchases/{body['id']}/refunds/",
                             {"refund_id": "R-1", "amount": "1.00"}, format="json")
    assert refund.status_code == 201, refund.json()
    assert refund.json()["points_reversed"] == 0
    assert_error(client_web.post(claim_path(body["id"])), 409, "purchase_refunded")


def test_requesting_a_claim_for_another_store_s_sale_is_404(api_client, client_web, scale):
    body = post(client_web, {"order_id": "W-1", "amount": "5.00", "member_id": None}).json()
    assert_error(api_client("paris").post(claim_path(body["id"])), 404, "not_found")
    assert_error(client_web.post(claim_path(999999)), 404, "not_found")


def test_requesting_a_claim_needs_the_purchases_scope(api_client, client_web, scale):
    body = post(client_web, {"order_id": "W-1", "amount": "5.00", "member_id": None}).json()
    reader = api_client("web", scopes=["members:read"])
    assert_error(reader.post(claim_path(body["id"])), 403, "permission_denied")
    assert_error(APIClient().post(claim_path(body["id"])), 401, "not_authenticated")


def test_the_schema_documents_the_claims(db):
    schema = APIClient().get("/api/schema/",
                             HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/purchases/{purchase_id}/claim/"]["post"]
    assert {"200", "400", "404", "409"} <= set(operation["responses"])
    purchase = schema["components"]["schemas"]["Purchase"]
    assert "claim" in purchase["properties"] and "claim" not in purchase["required"]
    assert purchase["properties"]["member_id"]["nullable"] is True
    claim = schema["components"]["schemas"]["Claim"]
    assert set(claim["properties"]) == CLAIM_KEYS
