"""Races through the API on PostgreSQL: many clients send the same request at once.

Run with DATABASE_URL=postgres://... ; SQLite serialises writers and cannot show them.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from loyalty.api import idempotency, views
from loyalty.models import IdempotencyRecord, Member, PointsEntry, Purchase, Refund
from loyalty.services import purchases
from loyalty.services.audit import audit_ledger
from tests.api.conftest import key_client
from tests.concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(count, secret, send):
    """`send(client, i)` from `count` threads, each with its own APIClient, released together.

    Returns [(status, body, replayed header)] in thread order.
    """
    clients = [key_client(secret, raise_request_exception=False) for _ in range(count)]

    def call(i):
        response = send(clients[i], i)
        return (response.status_code, response.json(),
                response.headers.get("Idempotent-Replayed"))

    results = run_at_once(count, call)
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


def assert_ledger_clean():
    assert audit_ledger().violations == []


def test_the_same_order_from_thirty_clients_is_one_purchase_and_thirty_equal_answers(
        api_key, member):
    _, secret = api_key()
    payload = {"order_id": "W-RACE", "amount": "37.50", "member_id": member.pk}

    results = at_once(30, secret, lambda client, i: client.post(
        "/api/v1/purchases/", payload, format="json"))

    answers = {(status, repr(sorted(body.items()))) for status, body, _ in results}
    assert len(answers) == 1, answers
    status, body, _ = results[0]
    assert status == 201 and body["points_earned"] == 37 and body["balance"] == 37
    assert Purchase.objects.count() == 1
    assert PointsEntry.objects.filter(member=member).count() == 1
    member.refresh_from_db()
    assert member.balance == 37
    assert_ledger_clean()


def test_the_same_idempotency_key_from_twenty_clients_is_one_write_and_one_answer(
        api_key, member):
    _, secret = api_key()
    payload = {"order_id": "W-KEY", "amount": "12.00", "member_id": member.pk}

    results = at_once(20, secret, lambda client, i: client.post(
        "/api/v1/purchases/", payload, format="json", HTTP_IDEMPOTENCY_KEY="same-key"))

    codes = [body.get("error", {}).get("code") for _, body, _ in results]
    assert "idempotency_in_progress" not in codes, codes
    assert {(status, repr(sorted(body.items()))) for status, body, _ in results} == {
        (results[0][0], repr(sorted(results[0][1].items())))}
    assert results[0][0] == 201
    replayed = [header for _, _, header in results]
    assert replayed.count(None) == 1 and replayed.count("true") == 19, replayed
    assert Purchase.objects.count() == 1
    assert PointsEntry.objects.filter(member=member).count() == 1
    assert IdempotencyRecord.objects.get().status_code == 201
    assert_ledger_clean()


def test_the_same_refund_from_twenty_clients_reverses_points_once(api_key, member, web):
    _, secret = api_key()
    bought = purchases.record_purchase(store=web, order_id="W-1", amount="80.00",
                                       member=member).obj

    results = at_once(20, secret, lambda client, i: client.post(
        f"/api/v1/purchases/{bought.pk}/refunds/", {"refund_id": "R-1", "amount": "30.00"},
        format="json"))

    assert {(status, repr(sorted(body.items()))) for status, body, _ in results} == {
        (201, repr(sorted(results[0][1].items())))}
    assert results[0][1]["points_reversed"] == 30
    assert Refund.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 50
    assert_ledger_clean()


def test_different_refunds_at_once_never_exceed_the_purchase(api_key, member, web):
    _, secret = api_key()
    bought = purchases.record_purchase(store=web, order_id="W-1", amount="100.00",
                                       member=member).obj

    results = at_once(10, secret, lambda client, i: client.post(
        f"/api/v1/purchases/{bought.pk}/refunds/", {"refund_id": f"R-{i}", "amount": "30.00"},
        format="json"))

    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] * 3 + [409] * 7, statuses
    assert {body["error"]["code"] for status, body, _ in results if status == 409} == {
        "refund_exceeds_purchase"}
    member.refresh_from_db()
    assert member.balance == 10
    assert_ledger_clean()


def test_the_same_person_enrolled_by_twenty_clients_is_one_member(api_key, scale):
    _, secret = api_key()

    results = at_once(20, secret, lambda client, i: client.post(
        "/api/v1/members/", {"email": "race@example.com"}, format="json"))

    created = [body for status, body, _ in results if status == 201]
    assert len(created) == 1, [status for status, _, _ in results]
    refused = [body for status, body, _ in results if status != 201]
    assert all(body["error"]["code"] == "member_exists" for body in refused), refused
    assert {body["error"]["fields"]["member_id"] for body in refused} <= {created[0]["id"]}
    assert Member.objects.filter(email="race@example.com").count() == 1


def _held_first_purchase(monkeypatch):
    """The first purchase request stops after its work (uncommitted) until released."""
    recorded, release = threading.Event(), threading.Event()
    real = purchases.record_purchase

    def record_then_hold(**kwargs):
        result = real(**kwargs)
        if not recorded.is_set():
            recorded.set()
            assert release.wait(timeout=30)
        return result

    monkeypatch.setattr(views.purchases, "record_purchase", record_then_hold)
    return recorded, release


def _send(secret, payload, key):
    try:
        response = key_client(secret, raise_request_exception=False).post(
            "/api/v1/purchases/", payload, format="json", HTTP_IDEMPOTENCY_KEY=key)
        return (response.status_code, response.json(),
                response.headers.get("Idempotent-Replayed"))
    finally:
        connections.close_all()


def test_a_retry_while_the_first_is_running_waits_and_gets_its_answer(api_key, member,
                                                                     monkeypatch):
    _, secret = api_key()
    payload = {"order_id": "W-HELD", "amount": "20.00", "member_id": member.pk}
    recorded, release = _held_first_purchase(monkeypatch)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_send, secret, payload, "held")
        assert recorded.wait(timeout=30)
        retry = pool.submit(_send, secret, payload, "held")
        time.sleep(0.5)
        assert not retry.done()  # waiting on the first's uncommitted claim, not answered 409
        release.set()
        first, retry = first.result(timeout=30), retry.result(timeout=30)
    assert first[0] == 201 and first[2] is None
    assert (retry[0], retry[1], retry[2]) == (201, first[1], "true")
    assert Purchase.objects.count() == 1
    assert IdempotencyRecord.objects.get().status_code == 201
    assert_ledger_clean()


def test_a_retry_while_the_first_runs_too_long_is_in_progress_then_replayed(api_key, member,
                                                                           monkeypatch):
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.3)
    _, secret = api_key()
    payload = {"order_id": "W-SLOW", "amount": "20.00", "member_id": member.pk}
    recorded, release = _held_first_purchase(monkeypatch)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_send, secret, payload, "slow")
        assert recorded.wait(timeout=30)
        status, body, _ = pool.submit(_send, secret, payload, "slow").result(timeout=30)
        assert status == 409 and body["error"]["code"] == "idempotency_in_progress"
        release.set()
        first = first.result(timeout=30)
    assert first[0] == 201
    assert _send(secret, payload, "slow") == (201, first[1], "true")
    assert Purchase.objects.count() == 1
    assert_ledger_clean()
