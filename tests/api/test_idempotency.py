"""The Idempotency-Key header and the natural keys: a retried POST changes nothing."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import Card, IdempotencyRecord, Member, PointsEntry, Purchase
from loyalty.services import cards, ledger
from tests.api.conftest import assert_error
from tests.factories import make_member

PURCHASES = "/api/v1/purchases/"


def post(client, path, payload, key=None):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path, payload, format="json", **extra)


def test_a_replayed_purchase_returns_the_first_response_marked_as_a_replay(client_web, member):
    payload = {"order_id": "W-1", "amount": "12.50", "member_id": member.pk}
    first = post(client_web, PURCHASES, payload, key="k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    ledger.adjust_points(member_id=member.pk, points=3, reason="meanwhile")
    again = post(client_web, PURCHASES, payload, key="k-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    # Equal as JSON, not byte for byte: on PostgreSQL the stored body is jsonb, which
    # reorders an object's keys.
    assert again["Idempotent-Replayed"] == "true"
    assert Purchase.objects.count() == 1
    assert PointsEntry.objects.filter(kind="earn").count() == 1


@pytest.mark.parametrize("endpoint", ["members", "refunds", "events", "merge"])
def test_every_points_moving_post_replays_under_its_key(client_web, member, web, endpoint):
    if endpoint == "members":
        path, payload = "/api/v1/members/", {"email": "new@example.com"}
    elif endpoint == "refunds":
        purchase = post(client_web, PURCHASES, {"order_id": "W-1", "amount": "10.00",
                                                "member_id": member.pk}).json()
        path, payload = f"{PURCHASES}{purchase['id']}/refunds/", {"refund_id": "R-1",
                                                                   "amount": "5.00"}
    elif endpoint == "events":
        path, payload = "/api/v1/events/", {"member_id": member.pk, "type": "review_posted",
                                            "event_id": "E-1"}
    else:
        duplicate = make_member(email="dup@example.com")
        path, payload = f"/api/v1/members/{member.pk}/merge/", {"duplicate_id": duplicate.pk}
    first = post(client_web, path, payload, key="k-1")
    assert first.status_code in (200, 201), first.json()
    entries, members = PointsEntry.objects.count(), Member.objects.count()
    again = post(client_web, path, payload, key="k-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert (PointsEntry.objects.count(), Member.objects.count()) == (entries, members)


def test_the_same_key_with_another_body_is_409_idempotency_conflict(client_web, member):
    post(client_web, PURCHASES, {"order_id": "W-1", "amount": "10.00", "member_id": member.pk},
         key="k-1")
    response = post(client_web, PURCHASES, {"order_id": "W-2", "amount": "10.00",
                                            "member_id": member.pk}, key="k-1")
    error = assert_error(response, 409, "idempotency_conflict")
    assert error["fields"] == {"Idempotency-Key": "k-1"}
    assert Purchase.objects.count() == 1


def test_the_same_key_and_body_on_another_endpoint_is_a_conflict(client_web, member):
    payload = {"member_id": member.pk, "type": "review_posted", "event_id": "E-1"}
    post(client_web, "/api/v1/events/", payload, key="k-1")
    assert_error(post(client_web, PURCHASES, payload, key="k-1"), 409, "idempotency_conflict")


def test_the_same_key_on_another_api_key_is_independent(api_client, member):
    first, second = api_client("web"), api_client("web")
    one = post(first, PURCHASES, {"order_id": "W-1", "amount": "10.00",
                                  "member_id": member.pk}, key="k-1")
    two = post(second, PURCHASES, {"order_id": "W-2", "amount": "20.00",
                                   "member_id": member.pk}, key="k-1")
    assert one.status_code == two.status_code == 201
    assert "Idempotent-Replayed" not in two
    assert two.json()["order_id"] == "W-2"
    assert Purchase.objects.count() == 2


def test_an_error_response_is_replayed_too(client_web, member):
    card = Card.objects.get(number=member.card_number)
    cards.block_card(card_id=card.pk)
    payload = {"order_id": "W-1", "amount": "10.00", "card_number": card.number}
    first = post(client_web, PURCHASES, payload, key="k-1")
    assert_error(first, 409, "card_blocked")
    Card.objects.filter(pk=card.pk).update(status=Card.Status.ACTIVE)
    again = post(client_web, PURCHASES, payload, key="k-1")
    assert (again.status_code, again.json()) == (409, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert Purchase.objects.count() == 0
    assert post(client_web, PURCHASES, payload, key="k-2").status_code == 201


def test_a_validation_error_is_replayed(client_web, member):
    first = post(client_web, PURCHASES, {"order_id": "W-1", "amount": "-1"}, key="k-1")
    again = post(client_web, PURCHASES, {"order_id": "W-1", "amount": "-1"}, key="k-1")
    assert_error(again, 400, "invalid")
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"


def test_an_expired_key_is_not_replayed(client_web, member, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 2
    payload = {"email": "new@example.com"}
    first = post(client_web, "/api/v1/members/", payload, key="k-1")
    assert first.status_code == 201
    within = post(client_web, "/api/v1/members/", payload, key="k-1")
    assert within.status_code == 201 and within["Idempotent-Replayed"] == "true"
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)):
        later = post(client_web, "/api/v1/members/", payload, key="k-1")
    # Done again, not replayed: this time the person already exists.
    error = assert_error(later, 409, "member_exists")
    assert error["fields"] == {"member_id": first.json()["id"]}
    assert "Idempotent-Replayed" not in later
    assert IdempotencyRecord.objects.get().status_code == 409


def test_a_key_is_kept_for_the_configured_lifetime(client_web, member, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    post(client_web, PURCHASES, {"order_id": "W-1", "amount": "1.00", "member_id": member.pk},
         key="k-1")
    record = IdempotencyRecord.objects.get()
    assert record.expires_at - record.created_at == pytest.approx(timedelta(hours=24),
                                                                  abs=timedelta(seconds=5))
    assert record.owner == f"key:{client_web.api_key.prefix}"
    assert record.status_code == 201 and record.response_body["order_id"] == "W-1"


@pytest.mark.parametrize("key", ["", "   ", "x" * 256])
def test_an_unusable_idempotency_key_is_400(client_web, member, key):
    response = post(client_web, PURCHASES, {"order_id": "W-1", "amount": "1.00",
                                            "member_id": member.pk}, key=key)
    error = assert_error(response, 400, "invalid")
    assert "Idempotency-Key" in error["fields"]
    assert Purchase.objects.count() == 0


def test_a_request_without_the_scope_does_not_burn_the_key(api_client, member):
    payload = {"order_id": "W-1", "amount": "1.00", "member_id": member.pk}
    reader = api_client(scopes=["members:read"])
    assert_error(post(reader, PURCHASES, payload, key="k-1"), 403, "permission_denied")
    assert not IdempotencyRecord.objects.exists()


# --- natural keys without the header --------------------------------------------------------


def test_natural_keys_give_the_same_answer_with_or_without_the_header(client_web, member):
    payload = {"order_id": "W-1", "amount": "10.00", "member_id": member.pk}
    with_key = post(client_web, PURCHASES, payload, key="k-1")
    without = post(client_web, PURCHASES, payload)
    other_key = post(client_web, PURCHASES, payload, key="k-2")
    assert with_key.json() == without.json() == other_key.json()
    assert with_key.status_code == without.status_code == other_key.status_code == 201
    assert Purchase.objects.count() == 1


# --- the response is stored with the work ----------------------------------------------------


def test_the_response_is_stored_in_the_same_transaction_as_the_purchase(client_web, member,
                                                                       monkeypatch):
    """The process dies as it stores the response (after the purchase's own work): nothing of
    the purchase is kept either, so the retry runs it, once, instead of answering
    idempotency_in_progress for minutes over a purchase that was in fact committed."""
    class Killed(BaseException):
        """Not an Exception: a worker killed mid-request, nothing answers it."""

    real_save = IdempotencyRecord.save

    def dies_storing_the_response(record, *args, **kwargs):
        if kwargs.get("update_fields"):
            raise Killed
        return real_save(record, *args, **kwargs)

    payload = {"order_id": "W-1", "amount": "10.00", "member_id": member.pk}
    with monkeypatch.context() as patched:
        patched.setattr(IdempotencyRecord, "save", dies_storing_the_response)
        with pytest.raises(Killed):
            post(client_web, PURCHASES, payload, key="k-1")
    assert not Purchase.objects.exists() and not IdempotencyRecord.objects.exists()
    again = post(client_web, PURCHASES, payload, key="k-1")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    replay = post(client_web, PURCHASES, payload, key="k-1")
    assert replay.json() == again.json() and replay["Idempotent-Replayed"] == "true"
    assert Purchase.objects.count() == 1
    assert PointsEntry.objects.filter(kind="earn").count() == 1


def test_a_committed_purchase_is_replayed_at_once_on_its_retry(client_web, member):
    """The response was lost on the way back: the very next retry gets it, no 409."""
    payload = {"order_id": "W-1", "amount": "10.00", "member_id": member.pk}
    first = post(client_web, PURCHASES, payload, key="k-1")
    record = IdempotencyRecord.objects.get()
    assert (record.status_code, record.response_body["id"]) == (201, first.json()["id"])
    again = post(client_web, PURCHASES, payload, key="k-1")
    assert (again.status_code, again.json()) == (201, first.json())


def test_a_claim_left_by_an_older_release_is_waited_for_then_in_progress(client_web, member,
                                                                        monkeypatch):
    """Records committed without a response only come from before this release: such a
    claim, younger than ABANDONED_AFTER, is still answered idempotency_in_progress."""
    from loyalty.api import idempotency

    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.2)
    payload = {"order_id": "W-1", "amount": "10.00", "member_id": member.pk}
    IdempotencyRecord.objects.create(
        owner=f"key:{client_web.api_key.prefix}", key="k-1",
        request_hash=idempotency.request_hash(type("R", (), {
            "data": payload, "method": "POST", "path": PURCHASES})()),
        expires_at=timezone.now() + timedelta(hours=1))
    assert_error(post(client_web, PURCHASES, payload, key="k-1"), 409,
                 "idempotency_in_progress")
    with time_machine.travel(timezone.now() + idempotency.ABANDONED_AFTER
                             + timedelta(seconds=1)):
        assert post(client_web, PURCHASES, payload, key="k-1").status_code == 201
