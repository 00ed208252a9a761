"""`represent` answers as a fresh serializer would, call after call."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import pytest

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


# --- input stays on fresh serializers -----------------------------------------------------


def test_input_errors_follow_each_requests_language(client_web):
    """A validator's message is rendered once per field instance (DRF's lazy_format):
    input serializers must stay fresh per request, or the first language would stick."""
    body = {"order_id": "L1", "amount": "-1.00", "member_id": 1}
    answers = [client_web.post("/api/v1/purchases/", body, format="json",
                               HTTP_ACCEPT_LANGUAGE=language).json()
               for language in ("fr", "en", "fr")]
    messages = [str(answer["error"]["fields"]["amount"]) for answer in answers]
    assert messages[0] == messages[2] != messages[1]
    assert "Ensure this value is greater than or equal to 0" in messages[1]
