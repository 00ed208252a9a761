"""POST /events/: actions that earn points."""

import pytest

from loyalty.models import ActionEvent, PointsEntry
from tests.api.conftest import assert_error, is_points
from tests.factories import ActionRuleFactory, make_member

EVENTS = "/api/v1/events/"


def event(client, member, type_="review_posted", event_id="E-1", **extra):
    payload = {"member_id": member.pk if hasattr(member, "pk") else member, "type": type_,
               "event_id": event_id, **extra}
    return client.post(EVENTS, payload, format="json")


def test_an_event_earns_its_rule_points(client_web, member):
    response = event(client_web, member)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {"points_earned", "balance", "limited"} <= set(body)
    assert is_points(body["points_earned"]) and is_points(body["balance"])
    assert body == {**body, "points_earned": 20, "balance": 20, "limited": False}


def test_the_limit_reached_is_201_with_no_points_and_limited(client_web, member):
    first = event(client_web, member, "newsletter_signup", "N-1")
    assert first.json()["points_earned"] == 50
    second = event(client_web, member, "newsletter_signup", "N-2")
    assert second.status_code == 201
    body = second.json()
    assert (body["points_earned"], body["limited"], body["balance"]) == (0, True, 50)
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_a_limit_counts_per_member(client_web, member):
    other = make_member(email="other@example.com")
    event(client_web, member, "newsletter_signup", "N-1")
    assert event(client_web, other, "newsletter_signup", "N-2").json()["limited"] is False


def test_the_same_event_id_again_returns_the_first_response_and_credits_once(client_web,
                                                                             member):
    first = event(client_web, member)
    event(client_web, member, event_id="E-2")
    again = event(client_web, member)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert ActionEvent.objects.count() == 2
    assert PointsEntry.objects.filter(member=member).count() == 2


def test_the_same_event_id_for_another_type_is_409(client_web, member):
    event(client_web, member)
    assert_error(event(client_web, member, "newsletter_signup"), 409, "event_conflict")


def test_an_unknown_event_type_is_400_unknown_event_type(client_web, member):
    error = assert_error(event(client_web, member, "moon_landing"), 400, "unknown_event_type")
    assert error["fields"] == {"type": "moon_landing"}
    assert ActionEvent.objects.count() == 0


def test_an_inactive_rule_is_an_unknown_event_type(client_web, member):
    ActionRuleFactory(event_type="old_action", points=5, active=False)
    assert_error(event(client_web, member, "old_action"), 400, "unknown_event_type")


def test_an_event_for_an_unknown_member_is_404(client_web, member):
    assert_error(event(client_web, member.pk + 99), 404, "not_found")


@pytest.mark.parametrize("payload,field", [
    ({"type": "review_posted", "event_id": "E-1"}, "member_id"),
    ({"member_id": "me", "type": "review_posted", "event_id": "E-1"}, "member_id"),
    ({"member_id": "MEMBER", "type": "review_posted"}, "event_id"),
    ({"member_id": "MEMBER", "event_id": "E-1"}, "type"),
    ({"member_id": "MEMBER", "type": "review_posted", "event_id": "E-1",
      "occurred_at": "2999-01-01T00:00:00+00:00"}, "occurred_at"),
    ({"member_id": "MEMBER", "type": "review_posted", "event_id": "x" * 101}, "event_id"),
])
def test_an_invalid_event_is_400(client_web, member, payload, field):
    payload = {name: member.pk if value == "MEMBER" else value
               for name, value in payload.items()}
    error = assert_error(client_web.post(EVENTS, payload, format="json"), 400, "invalid")
    assert field in error["fields"], error
