"""The rewards and vouchers endpoints: wiring, scopes, every error code and the contract's
shapes. The rules themselves are tested on the services (test_services.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from loyalty.models import Member
from loyalty.services.apikeys import create_api_key
from rewards import codes
from rewards.models import Redemption, Reward, Voucher
from rewards.services import cancel_voucher, redeem_reward
from tests.factories import StoreFactory, TierFactory, make_member
from tests.rewards.helpers import give, reward

pytestmark = pytest.mark.django_db

REWARDS = "/api/v1/rewards/"
REDEMPTIONS = "/api/v1/redemptions/"


def validate_url(code):
    return f"/api/v1/vouchers/{code}/validate/"


def redeem_url(code):
    return f"/api/v1/vouchers/{code}/redeem/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def web(db):
    return StoreFactory(code="web", name="E-shop", kind="online")


def client_for(store="web", scopes=None) -> APIClient:
    _key, secret = create_api_key(name="e-shop", store_code=store, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


@pytest.fixture
def api(web):
    return client_for()


@pytest.fixture
def shopper(web):
    return make_member(first_name="Ada", email="ada@example.com")


def issue(member, item=None, rid="R1") -> Voucher:
    """A voucher for `member`, bought with points given for it."""
    item = item or reward()
    give(member, item.points_cost)
    return redeem_reward(member=member, reward_id=item.pk, redemption_id=rid).obj.voucher


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


def redeem(api, member, item, rid="R1", **headers):
    return api.post(REDEMPTIONS, {"member_id": member.pk, "reward_id": item.pk,
                                  "redemption_id": rid}, format="json", **headers)


# --- GET /rewards/ ---------------------------------------------------------------------------


def test_the_catalogue_without_a_member_says_nothing_about_eligibility(api):
    gold = TierFactory(code="gold", name="Gold", rank=3)
    item = reward(stock=7, tier_required=gold, name_fr="Bon de 10 €")
    response = api.get(REWARDS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    (row,) = body["results"]
    assert {"id", "name", "kind", "points_cost", "stock", "tier", "eligible", "reason"} <= set(row)
    assert (row["id"], row["name"], row["kind"], row["points_cost"], row["stock"],
            row["tier"]) == (item.pk, "10 € voucher", "amount_voucher", 100, 7, "gold")
    assert row["eligible"] is None and row["reason"] is None


def test_the_catalogue_for_a_member_gives_each_reward_its_reason(api, shopper):
    give(shopper, 150)
    gold = TierFactory(code="gold", name="Gold", rank=3)
    tomorrow = timezone.now() + timedelta(days=1)
    items = {
        None: reward(name="ok", points_cost=100),
        "insufficient_points": reward(name="dear", points_cost=500),
        "tier_required": reward(name="gold", tier_required=gold),
        "out_of_stock": reward(name="gone", stock=0),
        "member_limit_reached": reward(name="once", limit_count=1),
        "reward_unavailable": reward(name="soon", available_from=tomorrow),
    }
    redeem_reward(member=shopper, reward_id=items["member_limit_reached"].pk,
                  redemption_id="first")
    give(shopper, 100)
    response = api.get(REWARDS, {"member_id": shopper.pk})
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()["results"]}
    for reason, item in items.items():
        assert rows[item.pk]["reason"] == reason, (item.name, rows[item.pk])
        assert rows[item.pk]["eligible"] is (reason is None)


def test_the_catalogue_lists_only_rewards_usable_in_the_callers_store(api, web):
    here, elsewhere = reward(name="web"), reward(name="paris")
    here.stores.set([web])
    elsewhere.stores.set([StoreFactory(code="paris")])
    ids = [row["id"] for row in api.get(REWARDS).json()["results"]]
    assert ids == [here.pk]


def test_the_catalogue_for_an_unknown_or_malformed_member_is_an_error(api):
    assert_error(api.get(REWARDS, {"member_id": 999999}), 404, "not_found")
    assert_error(api.get(REWARDS, {"member_id": "abc"}), 400, "invalid")
    # Digits Python's isdigit() accepts but int() refuses: an error, never a crash.
    assert_error(api.get(REWARDS, {"member_id": "\u00b2"}), 400, "invalid")


# --- POST /redemptions/ ----------------------------------------------------------------------


def test_a_redemption_returns_the_voucher_in_the_contracts_shape(api, shopper):
    give(shopper, 250)
    item = reward(value=Decimal("10"), voucher_validity_days=30)
    response = redeem(api, shopper, item)
    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "points_spent", "balance", "voucher"} <= set(body)
    assert (body["points_spent"], body["balance"]) == (100, 150)
    voucher = body["voucher"]
    assert set(voucher) == {"code", "kind", "value", "expires_at"}
    assert voucher["kind"] == "amount_voucher" and voucher["value"] == "10.00"
    assert codes.is_well_formed(codes.normalise(voucher["code"]))
    assert voucher["code"] == Voucher.objects.get().formatted_code
    assert timezone.datetime.fromisoformat(voucher["expires_at"]).tzinfo is not None
    redemption = Redemption.objects.get()
    assert body["id"] == redemption.pk and redemption.store.code == "web"


def test_replaying_a_redemption_returns_the_first_response_and_spends_once(api, shopper):
    give(shopper, 500)
    item = reward()
    first = redeem(api, shopper, item)
    again = redeem(api, shopper, item)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    with_key = redeem(api, shopper, item, rid="R2", HTTP_IDEMPOTENCY_KEY="k-1")
    replayed = redeem(api, shopper, item, rid="R2", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replayed.status_code == 201 and replayed.json() == with_key.json()
    assert Redemption.objects.count() == 2
    shopper.refresh_from_db()
    assert shopper.balance == 300


def test_the_same_redemption_id_for_another_reward_is_a_conflict(api, shopper):
    give(shopper, 500)
    redeem(api, shopper, reward())
    assert_error(redeem(api, shopper, reward(name="Other")), 409, "redemption_conflict")


@pytest.mark.parametrize("code", ["insufficient_points", "out_of_stock", "tier_required",
                                  "reward_unavailable", "member_limit_reached"])
def test_each_reason_to_refuse_a_redemption_is_a_409_with_its_code(api, shopper, code):
    give(shopper, 1000)
    gold = TierFactory(code="gold", name="Gold", rank=3)
    item = {
        "insufficient_points": lambda: reward(points_cost=5000),
        "out_of_stock": lambda: reward(stock=0),
        "tier_required": lambda: reward(tier_required=gold),
        "reward_unavailable": lambda: reward(active=False),
        "member_limit_reached": lambda: reward(limit_count=1, limit_period="month"),
    }[code]()
    if code == "member_limit_reached":
        assert redeem(api, shopper, item, rid="first").status_code == 201
    before = Member.objects.get(pk=shopper.pk).balance
    error = assert_error(redeem(api, shopper, item, rid="R-refused"), 409, code)
    assert error["fields"]["reward_id"] == item.pk
    assert Member.objects.get(pk=shopper.pk).balance == before
    assert not Redemption.objects.filter(redemption_id="R-refused").exists()


def test_a_reward_for_other_stores_is_unavailable_to_this_key(api, shopper):
    give(shopper, 500)
    item = reward()
    item.stores.set([StoreFactory(code="paris")])
    assert_error(redeem(api, shopper, item), 409, "reward_unavailable")


def test_unknown_member_or_reward_is_404(api, shopper):
    item = reward()
    response = api.post(REDEMPTIONS, {"member_id": 999999, "reward_id": item.pk,
                                      "redemption_id": "R1"}, format="json")
    assert_error(response, 404, "not_found")
    response = api.post(REDEMPTIONS, {"member_id": shopper.pk, "reward_id": 999999,
                                      "redemption_id": "R1"}, format="json")
    assert_error(response, 404, "not_found")


def test_a_malformed_redemption_is_400_with_its_fields(api, shopper):
    error = assert_error(api.post(REDEMPTIONS, {"member_id": shopper.pk}, format="json"),
                         400, "invalid")
    assert {"reward_id", "redemption_id"} <= set(error["fields"])


def test_redeeming_needs_the_redeem_scope(web, shopper):
    reader = client_for(scopes=["members:read"])
    give(shopper, 500)
    item = reward()
    assert_error(redeem(reader, shopper, item), 403, "permission_denied")
    voucher = issue(make_member())
    assert_error(reader.post(validate_url(voucher.code), {}, format="json"), 403,
                 "permission_denied")
    assert_error(reader.post(redeem_url(voucher.code), {"order_id": "W1"}, format="json"),
                 403, "permission_denied")
    assert reader.get(REWARDS).status_code == 200
    assert not Redemption.objects.filter(member=shopper).exists()


def test_without_a_key_it_is_401(web):
    assert_error(APIClient().post(REDEMPTIONS, {}, format="json"), 401, "not_authenticated")


# --- POST /vouchers/{code}/validate/ -----------------------------------------------------------


def test_validating_a_voucher_returns_what_it_takes_off(api, shopper):
    voucher = issue(shopper, reward(kind=Reward.Kind.PERCENT, value=Decimal("15")))
    response = api.post(validate_url(voucher.formatted_code.lower()),
                        {"order_amount": "80.00"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"code", "kind", "value", "discount", "member_id"} <= set(body)
    assert (body["code"], body["kind"], body["value"], body["discount"], body["member_id"]) == (
        voucher.formatted_code, "percent_voucher", "15.00", "12.00", shopper.pk)
    plain = api.post(validate_url(voucher.code), {}, format="json")
    assert plain.status_code == 200 and plain.json()["discount"] == "0.00"


def test_a_mistyped_code_is_400_and_an_unknown_one_404(api, shopper):
    voucher = issue(shopper)
    typo = voucher.code[:-1] + ("A" if voucher.code[-1] != "A" else "B")
    assert_error(api.post(validate_url(typo), {}, format="json"), 400, "voucher_code_invalid")
    assert_error(api.post(validate_url(codes.new_code()), {}, format="json"), 404, "not_found")


def test_a_used_or_expired_or_cancelled_voucher_does_not_validate(api, shopper):
    used, expired, cancelled = (issue(shopper, rid=f"R{i}") for i in range(3))
    assert api.post(redeem_url(used.code), {"order_id": "W1"}, format="json").status_code == 200
    Voucher.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    cancel_voucher(voucher_id=cancelled.pk)
    assert_error(api.post(validate_url(used.code), {}, format="json"), 409, "voucher_used")
    assert_error(api.post(validate_url(expired.code), {}, format="json"), 409,
                 "voucher_expired")
    assert_error(api.post(validate_url(cancelled.code), {}, format="json"), 409,
                 "voucher_cancelled")


def test_a_negative_order_amount_is_400(api, shopper):
    voucher = issue(shopper)
    assert_error(api.post(validate_url(voucher.code), {"order_amount": "-5"}, format="json"),
                 400, "invalid")


# --- POST /vouchers/{code}/redeem/ -------------------------------------------------------------


def test_a_voucher_is_used_once_the_same_order_again_changes_nothing(api, shopper):
    voucher = issue(shopper)
    first = api.post(redeem_url(voucher.formatted_code), {"order_id": "W-1001"}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert (body["code"], body["status"], body["order_id"], body["member_id"]) == (
        voucher.formatted_code, "used", "W-1001", shopper.pk)
    again = api.post(redeem_url(voucher.code), {"order_id": "W-1001"}, format="json")
    assert again.status_code == 200 and again.json() == body
    error = assert_error(api.post(redeem_url(voucher.code), {"order_id": "W-1002"},
                                  format="json"), 409, "voucher_used")
    assert error["fields"]["order_id"] == "W-1001"
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_order_id, voucher.used_store.code) == (
        "used", "W-1001", "web")


def test_using_a_voucher_reports_typos_unknown_codes_and_missing_orders(api, shopper):
    voucher = issue(shopper)
    assert_error(api.post(redeem_url("nonsense"), {"order_id": "W1"}, format="json"), 400,
                 "voucher_code_invalid")
    assert_error(api.post(redeem_url(codes.new_code()), {"order_id": "W1"}, format="json"),
                 404, "not_found")
    assert_error(api.post(redeem_url(voucher.code), {}, format="json"), 400, "invalid")


def test_a_voucher_for_other_stores_is_refused_here(api, shopper):
    item = reward()
    item.stores.set([StoreFactory(code="paris")])
    voucher = issue(shopper, item)
    assert_error(api.post(redeem_url(voucher.code), {"order_id": "W1"}, format="json"), 409,
                 "voucher_not_valid_here")
