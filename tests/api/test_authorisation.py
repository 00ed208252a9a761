"""Who may do what: keys belong to one store and carry scopes; staff sessions act for
their stores with CSRF enforced; customers' sessions are refused."""

from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import StaffRole
from loyalty.models import Purchase, Refund
from tests.api.conftest import assert_error
from tests.factories import StaffRoleFactory, UserFactory

PURCHASES = "/api/v1/purchases/"
CSRF_SECRET = "a" * 32  # any 32 characters from the token alphabet is a valid secret


def session_client(user, *, csrf: bool) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    if csrf:
        client.cookies[settings.CSRF_COOKIE_NAME] = CSRF_SECRET
        client.credentials(HTTP_X_CSRFTOKEN=CSRF_SECRET)
    return client


def purchase(client, member, order_id="P-1", **extra):
    return client.post(PURCHASES, {"order_id": order_id, "amount": "15.00",
                                   "member_id": member.pk}, format="json", **extra)


# --- keys ----------------------------------------------------------------------------------


def test_a_key_of_paris_cannot_refund_a_purchase_of_web(client_web, api_client, member):
    bought = purchase(client_web, member, "W-1").json()
    paris = api_client("paris")
    response = paris.post(f"{PURCHASES}{bought['id']}/refunds/",
                          {"refund_id": "R-1", "amount": "5.00"}, format="json")
    assert_error(response, 404, "not_found")
    assert not Refund.objects.exists()
    own = client_web.post(f"{PURCHASES}{bought['id']}/refunds/",
                          {"refund_id": "R-1", "amount": "5.00"}, format="json")
    assert own.status_code == 201


def test_a_key_with_only_members_read_cannot_post_purchases(api_client, member):
    reader = api_client(scopes=["members:read"])
    assert_error(purchase(reader, member), 403, "permission_denied")
    assert not Purchase.objects.exists()
    assert reader.get(f"/api/v1/members/{member.pk}/").status_code == 200


def test_a_purchase_is_recorded_for_the_store_of_the_key(api_client, member):
    body = purchase(api_client("paris", scopes=["purchases:write"]), member).json()
    assert body["store"] == "paris"
    assert Purchase.objects.get().store.code == "paris"


# --- staff sessions --------------------------------------------------------------------------


def test_a_cashier_session_without_the_csrf_token_is_403(cashier, member):
    response = purchase(session_client(cashier, csrf=False), member)
    error = assert_error(response, 403, "permission_denied")
    assert "CSRF" in error["message"]
    assert not Purchase.objects.exists()


def test_a_cashier_session_with_the_csrf_token_records_a_purchase_for_its_store(cashier,
                                                                                member):
    response = purchase(session_client(cashier, csrf=True), member)
    assert response.status_code == 201, response.json()
    assert response.json()["store"] == "paris"


def test_a_cashier_may_name_its_own_store(cashier, member):
    response = purchase(session_client(cashier, csrf=True), member, HTTP_X_STORE="paris")
    assert response.status_code == 201


def test_a_cashier_of_paris_naming_web_is_refused(cashier, member, web):
    response = purchase(session_client(cashier, csrf=True), member, HTTP_X_STORE="web")
    assert_error(response, 403, "permission_denied")
    assert not Purchase.objects.exists()


def test_a_cashier_of_two_stores_must_name_one(cashier, member, web):
    StaffRoleFactory(user=cashier, store=web, role=StaffRole.Role.CASHIER)
    client = session_client(cashier, csrf=True)
    assert_error(purchase(client, member), 403, "permission_denied")
    assert purchase(client, member, HTTP_X_STORE="web").json()["store"] == "web"


def test_a_customer_session_is_refused(customer, member):
    client = session_client(customer, csrf=True)
    assert_error(purchase(client, member), 403, "permission_denied")
    assert_error(client.get(f"/api/v1/members/{member.pk}/"), 403, "permission_denied")
    assert not Purchase.objects.exists()


def test_a_cashier_session_reads_members_without_csrf(cashier, member):
    response = session_client(cashier, csrf=False).get(f"/api/v1/members/{member.pk}/")
    assert response.status_code == 200


def test_a_programme_admin_acts_for_the_store_it_names(member, web, paris):
    admin = StaffRoleFactory(user=UserFactory(), store=None, role=StaffRole.Role.ADMIN).user
    client = session_client(admin, csrf=True)
    assert purchase(client, member, HTTP_X_STORE="web").json()["store"] == "web"
    assert_error(purchase(client, member, "P-2"), 403, "permission_denied")  # which store?


def test_a_cashier_session_cannot_merge_members(cashier, member):
    from tests.factories import make_member

    duplicate = make_member(email="dup@example.com")
    response = session_client(cashier, csrf=True).post(
        f"/api/v1/members/{member.pk}/merge/", {"duplicate_id": duplicate.pk}, format="json")
    assert_error(response, 403, "permission_denied")
