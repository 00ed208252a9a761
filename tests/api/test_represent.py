"""`represent` and `validate` answer as a fresh serializer would, call after call."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from loyalty.api import serializers as s
from loyalty.selectors import active_member, member_payloads
from tests.factories import make_member

PURCHASES = [
    {"id": n, "order_id": f"A-{n}", "member_id": 7, "store": "web",
     "amount": Decimal(f"{n}.5"), "points_earned": n * 3,
     "points_breakdown": [{"rule": "1 point per euro", "points": n},
                          {"rule": "Shoes", "points": 2 * n}],
     "points_status": "pending" if n % 2 else "available", "balance": 100 + n}
    for n in range(1, 40)
]


def test_the_shared_serializer_answers_as_a_fresh_one_for_every_value():
    for payload in PURCHASES:
        assert s.represent(s.PurchaseSerializer, payload) == s.PurchaseSerializer(payload).data
    assert (s.represent(s.PurchaseSerializer, PURCHASES, many=True)
            == s.PurchaseSerializer(PURCHASES, many=True).data)


@pytest.mark.django_db
def test_nested_member_payloads_match_too(store):
    member = make_member(first_name="Ada", email="ada@example.com")
    payload = member_payloads([active_member(member.pk)], store=store)[0]
    assert s.represent(s.MemberSerializer, payload) == s.MemberSerializer(payload).data
    assert s.represent(s.MemberSerializer, payload)["first_name"] == "Ada"


def test_threads_sharing_the_serializer_do_not_see_each_others_values():
    def run(payload):
        return [s.represent(s.PurchaseSerializer, payload) for _ in range(50)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, PURCHASES))
    for payload, answers in zip(PURCHASES, results, strict=True):
        expected = s.PurchaseSerializer(payload).data
        assert all(answer == expected for answer in answers)


def test_dates_follow_the_current_time_zone_at_each_call():
    from django.utils import timezone

    payload = {"points": 5, "expires_at": datetime(2026, 1, 1, 12, tzinfo=UTC)}
    with timezone.override("Europe/Paris"):
        paris = s.represent(s.ExpiringSerializer, payload)
    with timezone.override("America/New_York"):
        new_york = s.represent(s.ExpiringSerializer, payload)
    assert paris["expires_at"].endswith("+01:00") and new_york["expires_at"].endswith("-05:00")


# --- validate: the bound instance checks input as a fresh serializer would -----------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**6) | st.text(max_size=8)
    | st.sampled_from(["12.50", "0", "-1", "1e3", "abc", "2026-01-01T10:00:00+01:00"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["sku", "quantity", "unit_price", "category", "x"]),
                      children, max_size=4),
    max_leaves=12)
PURCHASE_FIELDS = ["order_id", "amount", "member_id", "card_number", "card_token",
                   "occurred_at", "items"]
BODIES = (st.dictionaries(st.sampled_from(PURCHASE_FIELDS), JSON, max_size=7)
          | JSON)


def _fresh(serializer_class, data):
    serializer = serializer_class(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except ValidationError as exc:
        return "error", exc.detail
    return "ok", serializer.validated_data


def _shared(serializer_class, data):
    try:
        return "ok", s.validate(serializer_class, data)
    except ValidationError as exc:
        return "error", exc.detail


@settings(max_examples=400, deadline=None)
@given(body=BODIES)
def test_validate_answers_as_a_fresh_serializer_for_any_body(body):
    for serializer_class in (s.PurchaseCreateSerializer, s.RefundCreateSerializer,
                             s.EventCreateSerializer):
        assert _shared(serializer_class, body) == _fresh(serializer_class, body)


def test_a_valid_purchase_and_a_null_body():
    body = {"order_id": "A1", "amount": "10.00", "member_id": 3,
            "items": [{"sku": "S", "quantity": 2, "unit_price": "5.00"}]}
    kind, data = _shared(s.PurchaseCreateSerializer, body)
    assert kind == "ok" and data["amount"] == Decimal("10.00")
    assert data["items"][0]["quantity"] == 2
    kind, detail = _shared(s.PurchaseCreateSerializer, None)
    assert kind == "error" and list(detail) == ["non_field_errors"]


def test_threads_validating_at_once_each_get_their_own_answer():
    bodies = [{"order_id": f"A{n}", "amount": f"{n}.00", "member_id": n,
               "items": [{"sku": f"S{n}", "quantity": n, "unit_price": "1.00"}]}
              if n % 3 else {"order_id": f"A{n}", "amount": "x"} for n in range(1, 60)]

    def run(body):
        # The fresh answer is taken in the same thread: error messages are translated
        # into the thread's active language.
        return ([_shared(s.PurchaseCreateSerializer, body) for _ in range(30)],
                _fresh(s.PurchaseCreateSerializer, body))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, bodies))
    for answers, expected in results:
        assert all(answer == expected for answer in answers)
    assert sum(kind == "ok" for (answers, _e) in results for kind, _ in answers[:1]) == 40
