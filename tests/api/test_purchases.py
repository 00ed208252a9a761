"""Purchases and refunds, in store and online."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import Card, PointsEntry, Purchase, Refund
from loyalty.services import cards, ledger
from tests.api.conftest import assert_error, is_money, is_points
from tests.factories import EarningRuleFactory, make_member, programme

PURCHASES = "/api/v1/purchases/"
PURCHASE_KEYS = {"id", "order_id", "member_id", "store", "amount", "points_earned",
                 "points_breakdown", "points_status", "balance"}
REFUND_KEYS = {"id", "refund_id", "amount", "points_reversed", "balance"}


def assert_purchase(body: dict) -> dict:
    assert set(body) >= PURCHASE_KEYS, body
    assert is_points(body["id"]) and is_points(body["member_id"])
    assert isinstance(body["order_id"], str) and isinstance(body["store"], str)
    assert is_money(body["amount"]), body["amount"]
    assert is_points(body["points_earned"]) and is_points(body["balance"])
    for line in body["points_breakdown"]:
        assert set(line) == {"rule", "points"}, line
        assert isinstance(line["rule"], str) and is_points(line["points"])
    assert body["points_status"] in ("pending", "available")
    return body


def assert_refund(body: dict) -> dict:
    assert set(body) >= REFUND_KEYS, body
    assert is_points(body["id"]) and isinstance(body["refund_id"], str)
    assert is_money(body["amount"]), body["amount"]
    assert is_points(body["points_reversed"]) and is_points(body["balance"])
    return body


def post(client, payload, **extra):
    return client.post(PURCHASES, payload, format="json", **extra)


# --- POST /purchases/ ----------------------------------------------------------------------


def test_a_purchase_is_201_with_points_and_balance(client_web, member):
    response = post(client_web, {"order_id": "W-1", "amount": "49.90", "member_id": member.pk})
    assert response.status_code == 201, response.json()
    body = assert_purchase(response.json())
    assert body["order_id"] == "W-1"
    assert body["member_id"] == member.pk
    assert body["store"] == "web"
    assert body["amount"] == "49.90"
    assert body["points_earned"] == 49
    assert body["points_breakdown"] == [{"rule": "1 point per euro", "points": 49}]
    assert body["points_status"] == "available"
    assert body["balance"] == 49
    purchase = Purchase.objects.get(pk=body["id"])
    assert purchase.amount == Decimal("49.90") and purchase.store.code == "web"


@pytest.mark.parametrize("amount", ["50", 50, "50.0", 50.0])
def test_an_amount_is_shown_with_two_places_whatever_its_input_form(client_web, member, amount):
    body = post(client_web, {"order_id": "W-1", "amount": amount, "member_id": member.pk}).json()
    assert body["amount"] == "50.00"


def test_points_inside_the_return_window_are_pending(client_web, member):
    programme(return_window_days=30)
    body = post(client_web, {"order_id": "W-1", "amount": "20.00",
                             "member_id": member.pk}).json()
    assert body["points_status"] == "pending"
    assert body["points_earned"] == 20 and body["balance"] == 0


def test_a_purchase_by_card_number_or_by_card_token(client_web, member):
    by_number = post(client_web, {"order_id": "W-1", "amount": "10.00",
                                  "card_number": member.card_number})
    assert by_number.status_code == 201 and by_number.json()["member_id"] == member.pk
    token = cards.make_token(Card.objects.get(number=member.card_number))
    by_token = post(client_web, {"order_id": "W-2", "amount": "10.00", "card_token": token})
    assert by_token.status_code == 201 and by_token.json()["member_id"] == member.pk
    assert by_token.json()["balance"] == 20


def test_points_are_computed_on_the_amount_paid_after_a_voucher(client_web, member):
    EarningRuleFactory(name="2 more per euro on shoes", points_per_unit=2, category="shoes")
    response = post(client_web, {
        "order_id": "W-1", "amount": "80.00", "member_id": member.pk,
        "items": [{"sku": "SHOE-1", "category": "shoes", "quantity": 1, "unit_price": "60.00"},
                  {"sku": "SOCK-1", "category": "socks", "quantity": 2,
                   "unit_price": "20.00"}]})
    assert response.status_code == 201, response.json()
    body = response.json()
    # 100.00 of lines, 80.00 paid: every line is worth 80 % of its price.
    # 1/euro on 80.00 = 80; 2/euro on the shoes' 48.00 = 96.
    assert body["points_breakdown"] == [{"rule": "1 point per euro", "points": 80},
                                        {"rule": "2 more per euro on shoes", "points": 96}]
    assert body["points_earned"] == 176
    assert Purchase.objects.get().items.count() == 2


def test_an_amount_beyond_the_lines_earns_as_a_line_of_its_own(client_web, member):
    body = post(client_web, {"order_id": "W-1", "amount": "25.00", "member_id": member.pk,
                             "items": [{"sku": "A", "quantity": 1,
                                        "unit_price": "20.00"}]}).json()
    assert body["points_earned"] == 25  # shipping earns too


def test_the_same_order_again_returns_the_first_response_and_credits_once(client_web, member):
    payload = {"order_id": "W-1", "amount": "49.90", "member_id": member.pk,
               "items": [{"sku": "A", "quantity": 1, "unit_price": "49.90"}]}
    first = post(client_web, payload)
    ledger.adjust_points(member_id=member.pk, points=7, reason="between the two")
    again = post(client_web, payload)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.json()["balance"] == 49  # as it was, not as it is now
    assert Purchase.objects.count() == 1
    assert PointsEntry.objects.filter(member=member, kind="earn").count() == 1


@pytest.mark.parametrize("change", [{"amount": "49.91"},
                                    {"items": [{"sku": "B", "quantity": 1,
                                                "unit_price": "49.90"}]},
                                    "member"])
def test_the_same_order_id_with_other_content_is_409_order_conflict(client_web, member, change):
    payload = {"order_id": "W-1", "amount": "49.90", "member_id": member.pk}
    assert post(client_web, payload).status_code == 201
    if change == "member":
        change = {"member_id": make_member(email="other@example.com").pk}
    error = assert_error(post(client_web, {**payload, **change}), 409, "order_conflict")
    assert error["fields"] == {"order_id": "W-1"}
    assert Purchase.objects.count() == 1


def test_the_same_order_id_in_another_store_is_another_purchase(client_web, api_client, member):
    payload = {"order_id": "1001", "amount": "10.00", "member_id": member.pk}
    assert post(client_web, payload).status_code == 201
    paris = post(api_client("paris"), payload)
    assert paris.status_code == 201 and paris.json()["store"] == "paris"
    assert paris.json()["balance"] == 20


def test_an_unknown_member_is_404(client_web, member):
    error = assert_error(post(client_web, {"order_id": "W-1", "amount": "1.00",
                                           "member_id": member.pk + 99}), 404, "not_found")
    assert error["fields"] == {"member_id": member.pk + 99}


def test_an_unknown_card_number_is_404(client_web, member):
    body = "123456789"
    number = body + cards.luhn_digit(body)
    assert number != member.card_number
    assert_error(post(client_web, {"order_id": "W-1", "amount": "1.00", "card_number": number}),
                 404, "not_found")
    assert Purchase.objects.count() == 0


def test_a_garbled_card_number_is_400_token_invalid(client_web, member):
    number = member.card_number
    garbled = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert_error(post(client_web, {"order_id": "W-1", "amount": "1.00", "card_number": garbled}),
                 400, "token_invalid")


def test_a_purchase_on_a_blocked_card_is_409_card_blocked(client_web, member):
    card = Card.objects.get(number=member.card_number)
    cards.block_card(card_id=card.pk)
    assert_error(post(client_web, {"order_id": "W-1", "amount": "1.00",
                                   "card_number": card.number}), 409, "card_blocked")


def test_an_expired_card_token_is_409_token_expired(client_web, member):
    card = Card.objects.get(number=member.card_number)
    token = cards.make_token(card, at=timezone.now().timestamp() - 300)
    assert_error(post(client_web, {"order_id": "W-1", "amount": "1.00", "card_token": token}),
                 409, "token_expired")


@pytest.mark.parametrize("payload,field", [
    ({"amount": "-1.00"}, "amount"),
    ({"amount": "100000.01"}, "amount"),
    ({"amount": "1e9"}, "amount"),
    ({"amount": "12.345"}, "amount"),
    ({"amount": "NaN"}, "amount"),
    ({"amount": "Infinity"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": None}, "amount"),
    ({"amount": "ten"}, "amount"),
    ({"order_id": ""}, "order_id"),
    ({"order_id": "x" * 101}, "order_id"),
    ({"order_id": "A\nB"}, "order_id"),
    ({"occurred_at": "not a time"}, "occurred_at"),
    ({"occurred_at": "2999-01-01T00:00:00+00:00"}, "occurred_at"),
    ({"occurred_at": "1990-01-01T00:00:00+00:00"}, "occurred_at"),
    ({"items": "many"}, "items"),
    ({"items": [{"sku": "A", "quantity": -1, "unit_price": "1.00"}]}, "items"),
    ({"items": [{"sku": "A", "quantity": 1, "unit_price": "-1.00"}]}, "items"),
    ({"items": [{"quantity": 1, "unit_price": "1.00"}]}, "items"),
    ({"items": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}] * 501}, "items"),
    ({"member_id": "abc"}, "member_id"),
    ({"member_id": -4}, "member_id"),
])
def test_negative_absurd_or_malformed_purchases_are_400(client_web, member, payload, field):
    base = {"order_id": "W-1", "amount": "10.00", "member_id": member.pk}
    error = assert_error(post(client_web, {**base, **payload}), 400, "invalid")
    assert any(name.startswith(field) for name in error["fields"]), error
    assert Purchase.objects.count() == 0


def test_naming_no_member_or_two_ways_is_400(client_web, member):
    assert_error(post(client_web, {"order_id": "W-1", "amount": "1.00"}), 400, "invalid")
    both = post(client_web, {"order_id": "W-1", "amount": "1.00", "member_id": member.pk,
                             "card_number": member.card_number})
    assert_error(both, 400, "invalid")


def test_a_purchase_in_the_past_is_accepted_with_its_time(client_web, member):
    when = (timezone.now() - timedelta(days=3)).isoformat()
    response = post(client_web, {"order_id": "W-1", "amount": "5.00", "member_id": member.pk,
                                 "occurred_at": when})
    assert response.status_code == 201
    assert Purchase.objects.get().occurred_at.date() == (timezone.now() - timedelta(days=3)).date()


def test_a_zero_amount_is_recorded_with_no_points(client_web, member):
    body = post(client_web, {"order_id": "W-1", "amount": "0.00", "member_id": member.pk}).json()
    assert body["points_earned"] == 0 and body["points_breakdown"] == []
    assert body["points_status"] == "available"


# --- POST /purchases/{id}/refunds/ ----------------------------------------------------------


@pytest.fixture
def purchase(client_web, member):
    body = post(client_web, {"order_id": "W-1", "amount": "80.00", "member_id": member.pk}).json()
    return Purchase.objects.get(pk=body["id"])


def refund(client, purchase_id, payload, **extra):
    return client.post(f"{PURCHASES}{purchase_id}/refunds/", payload, format="json", **extra)


def test_a_refund_reverses_points_in_proportion(client_web, purchase):
    response = refund(client_web, purchase.pk, {"refund_id": "R-1", "amount": "20.00"})
    assert response.status_code == 201, response.json()
    body = assert_refund(response.json())
    assert body["refund_id"] == "R-1"
    assert body["amount"] == "20.00"
    assert body["points_reversed"] == 20
    assert body["balance"] == 60
    second = refund(client_web, purchase.pk, {"refund_id": "R-2", "amount": "60.00"}).json()
    assert second["points_reversed"] == 60 and second["balance"] == 0


def test_refunds_in_parts_take_back_what_one_refund_would(client_web, member):
    body = post(client_web, {"order_id": "W-9", "amount": "10.00", "member_id": member.pk}).json()
    # 10 points for 10.00: three refunds of 3.33, 3.33 and 3.34 take back 3, 3 and 4.
    taken = [refund(client_web, body["id"], {"refund_id": f"R-{n}", "amount": amount}).json()
             ["points_reversed"] for n, amount in enumerate(["3.33", "3.33", "3.34"])]
    assert taken == [3, 3, 4]


def test_the_same_refund_id_again_returns_the_first_response(client_web, purchase):
    payload = {"refund_id": "R-1", "amount": "20.00"}
    first = refund(client_web, purchase.pk, payload)
    again = refund(client_web, purchase.pk, payload)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert Refund.objects.count() == 1
    assert PointsEntry.objects.filter(kind="refund").count() == 1


def test_the_same_refund_id_with_another_amount_is_409_refund_conflict(client_web, purchase):
    refund(client_web, purchase.pk, {"refund_id": "R-1", "amount": "20.00"})
    assert_error(refund(client_web, purchase.pk, {"refund_id": "R-1", "amount": "30.00"}),
                 409, "refund_conflict")


def test_refunding_more_than_remains_is_409_refund_exceeds_purchase(client_web, purchase):
    refund(client_web, purchase.pk, {"refund_id": "R-1", "amount": "70.00"})
    error = assert_error(refund(client_web, purchase.pk, {"refund_id": "R-2", "amount": "10.01"}),
                         409, "refund_exceeds_purchase")
    assert "amount" in error["fields"]
    assert Refund.objects.count() == 1


def test_a_refund_of_points_already_spent_takes_the_balance_below_zero(client_web, purchase,
                                                                        member):
    ledger.adjust_points(member_id=member.pk, points=-80, reason="spent elsewhere")
    body = refund(client_web, purchase.pk, {"refund_id": "R-1", "amount": "40.00"}).json()
    assert body["points_reversed"] == 40 and body["balance"] == -40


def test_refunding_a_purchase_of_another_store_is_404(api_client, purchase):
    paris = api_client("paris")
    error = assert_error(refund(paris, purchase.pk, {"refund_id": "R-1", "amount": "10.00"}),
                         404, "not_found")
    assert error["fields"] == {"purchase_id": purchase.pk}
    assert Refund.objects.count() == 0


def test_refunding_an_unknown_purchase_is_404(client_web, purchase):
    assert_error(refund(client_web, purchase.pk + 99, {"refund_id": "R-1", "amount": "1.00"}),
                 404, "not_found")


@pytest.mark.parametrize("payload,field", [
    ({"refund_id": "R-1"}, "amount"),
    ({"refund_id": "R-1", "amount": "0.00"}, "amount"),
    ({"refund_id": "R-1", "amount": "-5.00"}, "amount"),
    ({"refund_id": "R-1", "amount": "1.001"}, "amount"),
    ({"amount": "5.00"}, "refund_id"),
    ({"refund_id": "", "amount": "5.00"}, "refund_id"),
])
def test_an_invalid_refund_is_400(client_web, purchase, payload, field):
    error = assert_error(refund(client_web, purchase.pk, payload), 400, "invalid")
    assert field in error["fields"], error


def test_points_already_past_their_validity_are_not_spendable(client_web, member):
    programme(points_validity_days=365)
    long_ago = (timezone.now() - timedelta(days=400)).isoformat()
    body = post(client_web, {"order_id": "OLD-1", "amount": "10.00", "member_id": member.pk,
                             "occurred_at": long_ago}).json()
    points = client_web.get(f"/api/v1/members/{member.pk}/").json()["points"]
    assert points["expiring"] == []
    assert (body["balance"], points["balance"]) == (0, 0)
