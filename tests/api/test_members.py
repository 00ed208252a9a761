"""Members: enrol, find, show, history, merge."""

from datetime import date

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import Member, PointsEntry
from loyalty.services import ledger, purchases
from tests.api.conftest import assert_error, assert_member, assert_page, is_points, is_time
from tests.factories import TierFactory, make_member, programme

MEMBERS = "/api/v1/members/"


def buy(member, store, order_id, amount):
    return purchases.record_purchase(store=store, order_id=order_id, amount=amount,
                                     member=member).obj


# --- POST /members/ ----------------------------------------------------------------------


def test_enrolling_a_member_returns_201_and_the_member(client_web, scale):
    TierFactory(code="bronze", name="Bronze", rank=0)
    response = client_web.post(MEMBERS, {
        "email": " Ada@Example.com ", "phone": "06 12 34 56 78", "first_name": "Ada",
        "last_name": "Lovelace", "birth_date": "1990-12-10", "external_id": "C-1"},
        format="json")
    assert response.status_code == 201, response.json()
    body = assert_member(response.json())
    assert body["email"] == "ada@example.com"
    assert body["phone"] == "+33612345678"
    assert (body["first_name"], body["last_name"]) == ("Ada", "Lovelace")
    assert body["external_id"] == "C-1"
    assert body["tier"] == {"code": "bronze", "name": "Bronze"}
    assert body["points"] == {"balance": 0, "pending": 0, "lifetime_earned": 0, "expiring": []}
    member = Member.objects.get(pk=body["id"])
    assert member.card_number == body["card_number"]
    assert member.birth_date == date(1990, 12, 10)


@pytest.mark.parametrize("identity", [{"email": "solo@example.com"}, {"phone": "+33698765432"},
                                      {"external_id": "C-9"}])
def test_one_identity_is_enough_to_enrol(client_web, scale, identity):
    response = client_web.post(MEMBERS, identity, format="json")
    assert response.status_code == 201, response.json()
    assert_member(response.json())


def test_enrolling_without_email_phone_or_external_id_is_400(client_web, scale):
    response = client_web.post(MEMBERS, {"first_name": "Nobody"}, format="json")
    error = assert_error(response, 400, "invalid")
    assert error["fields"]
    assert Member.objects.count() == 0


@pytest.mark.parametrize("payload,field", [
    ({"email": "not-an-email"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"email": "a@example.com", "birth_date": "yesterday"}, "birth_date"),
    ({"email": "a@example.com", "birth_date": "1850-01-01"}, "birth_date"),
    ({"email": "a@example.com", "birth_date": "2999-01-01"}, "birth_date"),
    ({"email": "a@example.com", "first_name": "x" * 101}, "first_name"),
    ({"email": ["a@example.com"]}, "email"),
])
def test_invalid_member_fields_are_400_and_named(client_web, scale, payload, field):
    error = assert_error(client_web.post(MEMBERS, payload, format="json"), 400, "invalid")
    assert field in error["fields"], error


@pytest.mark.parametrize("payload", [
    {"email": "MARIE@example.com"},
    {"phone": "06 12 34 56 78"},
    {"email": "new@example.com", "phone": "+33612345678"},
])
def test_an_identity_already_held_is_409_member_exists_with_the_member_id(
        client_web, member, payload):
    error = assert_error(client_web.post(MEMBERS, payload, format="json"), 409, "member_exists")
    assert error["fields"] == {"member_id": member.pk}
    assert Member.objects.count() == 1


def test_an_external_id_already_held_in_the_store_is_409_member_exists(client_web, scale):
    first = client_web.post(MEMBERS, {"external_id": "C-1"}, format="json").json()
    error = assert_error(client_web.post(MEMBERS, {"external_id": "C-1"}, format="json"),
                         409, "member_exists")
    assert error["fields"] == {"member_id": first["id"]}


def test_the_same_external_id_in_another_store_is_another_person(client_web, api_client, scale):
    client_web.post(MEMBERS, {"external_id": "C-1"}, format="json")
    other = api_client("paris").post(MEMBERS, {"external_id": "C-1"}, format="json")
    assert other.status_code == 201


# --- GET /members/?... ---------------------------------------------------------------------


@pytest.mark.parametrize("query", ["email=Marie@Example.com", "phone=0612345678",
                                   "phone=%2B33612345678"])
def test_a_member_is_found_by_email_or_phone(client_web, member, query):
    response = client_web.get(f"{MEMBERS}?{query}")
    assert response.status_code == 200
    results = assert_page(response.json())
    assert [row["id"] for row in results] == [member.pk]
    assert_member(results[0])


def test_a_member_is_found_by_card_number_typed_with_spaces(client_web, member):
    number = member.card_number
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    results = assert_page(client_web.get(MEMBERS, {"card_number": spaced}).json())
    assert [row["id"] for row in results] == [member.pk]


def test_a_member_is_found_by_the_external_id_of_the_key_store_only(client_web, api_client,
                                                                    scale):
    created = client_web.post(MEMBERS, {"external_id": "C-7", "email": "c7@example.com"},
                              format="json").json()
    found = assert_page(client_web.get(MEMBERS, {"external_id": "C-7"}).json())
    assert [row["id"] for row in found] == [created["id"]]
    assert found[0]["external_id"] == "C-7"
    paris = api_client("paris")
    assert assert_page(paris.get(MEMBERS, {"external_id": "C-7"}).json()) == []


def test_nobody_matching_is_an_empty_page(client_web, member):
    body = client_web.get(MEMBERS, {"email": "nobody@example.com"}).json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


def test_searching_without_a_filter_is_400(client_web, member):
    assert_error(client_web.get(MEMBERS), 400, "invalid")
    assert_error(client_web.get(MEMBERS, {"email": "  "}), 400, "invalid")


def test_a_merged_duplicate_card_number_finds_the_survivor(client_web, member, scale):
    duplicate = make_member(email="dup@example.com")
    client_web.post(f"{MEMBERS}{member.pk}/merge/", {"duplicate_id": duplicate.pk},
                    format="json")
    results = assert_page(client_web.get(MEMBERS, {"card_number": duplicate.card_number})
                          .json())
    assert [row["id"] for row in results] == [member.pk]


def test_a_merged_duplicate_email_finds_the_survivor(client_web, member, scale):
    duplicate = make_member(email="dup@example.com")
    client_web.post(f"{MEMBERS}{member.pk}/merge/", {"duplicate_id": duplicate.pk},
                    format="json")
    error = assert_error(client_web.post(MEMBERS, {"email": "dup@example.com"}, format="json"),
                         409, "member_exists")
    assert error["fields"] == {"member_id": member.pk}
    results = assert_page(client_web.get(MEMBERS, {"email": "dup@example.com"}).json())
    assert [row["id"] for row in results] == [member.pk]


# --- GET /members/{id}/ ----------------------------------------------------------------------


def test_a_member_shows_points_tier_and_expiring_points(client_web, member, web):
    TierFactory(code="silver", name="Silver", rank=1)
    buy(member, web, "A1", "49.90")
    response = client_web.get(f"{MEMBERS}{member.pk}/")
    assert response.status_code == 200
    body = assert_member(response.json())
    assert body["id"] == member.pk
    assert body["email"] == "marie@example.com"
    assert body["points"]["balance"] == 49
    assert body["points"]["pending"] == 0
    assert body["points"]["lifetime_earned"] == 49
    [lot] = body["points"]["expiring"]
    assert lot["points"] == 49
    assert is_time(lot["expires_at"])
    assert body["segment"] is None


def test_points_inside_the_return_window_are_pending(client_web, member, web):
    programme(return_window_days=14)
    buy(member, web, "A1", "30.00")
    points = client_web.get(f"{MEMBERS}{member.pk}/").json()["points"]
    assert points["balance"] == 0
    assert points["pending"] == 30
    assert points["expiring"] == []  # nothing spendable yet


def test_an_unknown_member_is_404(client_web, member):
    error = assert_error(client_web.get(f"{MEMBERS}{member.pk + 999}/"), 404, "not_found")
    assert error["fields"] == {"member_id": member.pk + 999}


def test_a_member_id_beyond_any_integer_is_404_not_5xx(api_client, member):
    client = api_client(raise_request_exception=False)
    assert_error(client.get(f"{MEMBERS}{10 ** 30}/"), 404, "not_found")


def test_a_merged_member_id_leads_to_the_survivor(client_web, member, scale):
    duplicate = make_member(email="dup@example.com")
    client_web.post(f"{MEMBERS}{member.pk}/merge/", {"duplicate_id": duplicate.pk},
                    format="json")
    assert client_web.get(f"{MEMBERS}{duplicate.pk}/").json()["id"] == member.pk


# --- GET /members/{id}/transactions/ --------------------------------------------------------


def test_transactions_are_paginated_newest_first_with_the_contract_fields(client_web, member,
                                                                         web):
    with time_machine.travel(timezone.now() - timezone.timedelta(hours=2), tick=False):
        buy(member, web, "A1", "10.00")
    with time_machine.travel(timezone.now() - timezone.timedelta(hours=1), tick=False):
        buy(member, web, "A2", "20.00")
    ledger.adjust_points(member_id=member.pk, points=-5, reason="Goodwill correction")
    response = client_web.get(f"{MEMBERS}{member.pk}/transactions/")
    assert response.status_code == 200
    rows = assert_page(response.json())
    assert [row["kind"] for row in rows] == ["adjust", "earn", "earn"]
    assert [row["points"] for row in rows] == [-5, 20, 10]
    assert [row["balance_after"] for row in rows] == [25, 30, 10]
    for row in rows:
        assert set(row) == {"id", "kind", "points", "balance_after", "reason", "reference",
                            "created_at", "expires_at"}, row
        assert is_points(row["id"]) and is_points(row["points"])
        assert isinstance(row["reason"], str) and isinstance(row["reference"], str)
        assert is_time(row["created_at"])
    assert is_time(rows[1]["expires_at"]) and rows[0]["expires_at"] is None
    assert rows[2]["reference"] == "order:web/A1"


def test_a_transactions_reason_is_written_in_the_requests_language(client_web, member, web):
    gold = TierFactory(code="gold", name_en="Gold", name_fr="Or", rank=5,
                       earn_multiplier="1.5")
    Member.objects.filter(pk=member.pk).update(tier=gold)
    buy(member, web, "W-7", "10.00")
    ledger.adjust_points(member_id=member.pk, points=1, reason="Geste commercial")
    url = f"{MEMBERS}{member.pk}/transactions/"
    english = [row["reason"] for row in client_web.get(url).json()["results"]]
    french = [row["reason"] for row in client_web.get(
        url, HTTP_ACCEPT_LANGUAGE="fr").json()["results"]]
    assert english == ["Geste commercial", "purchase #W-7 at E-shop, Gold tier ×1.5"]
    assert french == ["Geste commercial", "achat n° W-7 chez E-shop, palier Or ×1,5"]


def test_transactions_pages_with_limit_and_offset(client_web, member, web):
    for n in range(5):
        buy(member, web, f"A{n}", "1.00")
    first = client_web.get(f"{MEMBERS}{member.pk}/transactions/", {"limit": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2
    assert first["previous"] is None and "offset=2" in first["next"]
    last = client_web.get(first["next"].replace("http://testserver", "")).json()
    assert last["previous"] is not None
    ids = [row["id"] for row in first["results"] + last["results"]]
    assert len(set(ids)) == 4


def test_transactions_of_an_unknown_member_are_404(client_web, member):
    assert_error(client_web.get(f"{MEMBERS}{member.pk + 1}/transactions/"), 404, "not_found")


# --- POST /members/{id}/merge/ ---------------------------------------------------------------


def test_a_merge_returns_the_survivor_holding_both_histories(client_web, member, web):
    duplicate = make_member(email="dup@example.com", first_name="M.", phone="")
    buy(member, web, "A1", "10.00")
    buy(duplicate, web, "B1", "25.00")
    response = client_web.post(f"{MEMBERS}{member.pk}/merge/", {"duplicate_id": duplicate.pk},
                               format="json")
    assert response.status_code == 200, response.json()
    body = assert_member(response.json())
    assert body["id"] == member.pk
    assert body["points"]["balance"] == 35
    assert body["points"]["lifetime_earned"] == 35
    duplicate.refresh_from_db()
    assert duplicate.status == Member.Status.MERGED and duplicate.merged_into_id == member.pk
    kinds = [row["kind"] for row in client_web.get(
        f"{MEMBERS}{member.pk}/transactions/").json()["results"]]
    assert "merge" in kinds and kinds.count("earn") == 1
    assert PointsEntry.objects.filter(member=duplicate).exists()  # its history is kept


def test_merging_again_changes_nothing(client_web, member, scale):
    duplicate = make_member(email="dup@example.com")
    url = f"{MEMBERS}{member.pk}/merge/"
    first = client_web.post(url, {"duplicate_id": duplicate.pk}, format="json")
    again = client_web.post(url, {"duplicate_id": duplicate.pk}, format="json")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()


def test_merging_a_member_with_itself_is_409(client_web, member):
    response = client_web.post(f"{MEMBERS}{member.pk}/merge/", {"duplicate_id": member.pk},
                               format="json")
    assert_error(response, 409, "merge_not_allowed")


@pytest.mark.parametrize("who", ["survivor", "duplicate"])
def test_merging_an_unknown_member_is_404(client_web, member, who):
    survivor, duplicate = (member.pk + 99, member.pk) if who == "survivor" else (
        member.pk, member.pk + 99)
    response = client_web.post(f"{MEMBERS}{survivor}/merge/", {"duplicate_id": duplicate},
                               format="json")
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize("payload", [{}, {"duplicate_id": "abc"}, {"duplicate_id": 0},
                                     {"duplicate_id": None}])
def test_a_merge_without_a_valid_duplicate_id_is_400(client_web, member, payload):
    error = assert_error(client_web.post(f"{MEMBERS}{member.pk}/merge/", payload,
                                         format="json"), 400, "invalid")
    assert "duplicate_id" in error["fields"]


def test_is_time_accepts_offsets_and_refuses_naive_times():
    assert is_time("2026-01-02T03:04:05+01:00") and is_time("2026-01-02T03:04:05Z")
    assert not is_time("2026-01-02T03:04:05")
