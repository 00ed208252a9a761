"""The rewards admin: the catalogue is edited here, vouchers are used, cancelled and rewards
redeemed for a member only through the services, and their errors come back as messages."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import StaffRole, User
from loyalty.models import Member, PointsEntry
from rewards.models import Redemption, Reward, Voucher
from rewards.services import redeem_voucher
from tests.factories import StaffRoleFactory, StoreFactory, TierFactory, UserFactory
from tests.rewards.helpers import give, issue, reward

pytestmark = pytest.mark.django_db

REWARD_MODELS = list(apps.get_app_config("rewards").get_models())
VOUCHERS = "admin:rewards_voucher_changelist"
REWARDS = "admin:rewards_reward_changelist"


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def paris(db):
    return StoreFactory(code="paris", name="Paris")


@pytest.fixture
def catalogue_data(paris, member):
    """A reward of each kind, a redemption with its voucher, used and cancelled ones."""
    gold = TierFactory(code="gold", name="Gold", rank=3)
    item = reward(stock=10)
    item.stores.set([paris])
    reward(name="Evening", kind=Reward.Kind.EXPERIENCE, value=0, tier_required=gold,
           limit_count=1, limit_period="year")
    used = issue(member, item)
    redeem_voucher(code=used.code, order_id="A-1", store=paris)
    issue(member, item)
    return item


def staff_user(*perms, store=None, role=StaffRole.Role.CASHIER):
    user = UserFactory(is_staff=True)
    if store is not None:
        StaffRoleFactory(user=user, store=store, role=role)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="rewards",
                                                         codename__in=perms))
    return User.objects.get(pk=user.pk)


# --- Every page -------------------------------------------------------------------------


@pytest.mark.parametrize("model", REWARD_MODELS, ids=lambda model: model._meta.label)
def test_every_page_loads_and_only_rewards_can_be_added(rf, root_client, superuser,
                                                        catalogue_data, model):
    assert model in admin.site._registry
    assert root_client.get(url(model, "changelist")).status_code == 200
    obj = model.objects.order_by("pk").first()
    assert root_client.get(url(model, "change", obj.pk)).status_code == 200
    request = rf.get("/")
    request.user = superuser
    addable = admin.site._registry[model].has_add_permission(request)
    assert addable is (model is Reward)
    assert root_client.get(url(model, "add")).status_code == (200 if addable else 403)


@pytest.mark.parametrize("model", [Redemption, Voucher])
def test_redemptions_and_vouchers_are_never_edited_or_deleted(rf, superuser, root_client,
                                                              catalogue_data, model):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = superuser
    obj = model.objects.first()
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert "delete_selected" not in model_admin.get_actions(request)
    assert root_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403


@pytest.mark.parametrize("query", [{"kind__exact": "experience"}, {"active__exact": "1"},
                                   {"q": "voucher"}, {"stores__id__exact": "1"}])
def test_the_reward_list_filters(root_client, catalogue_data, query):
    assert root_client.get(reverse(REWARDS), query).status_code == 200


# --- The catalogue --------------------------------------------------------------------------


def form_data(**fields):
    data = {"name_en": "Tote bag", "name_fr": "Tote bag", "description_en": "A bag",
            "description_fr": "Un sac", "kind": "gift", "value": "0", "points_cost": "600",
            "tier_required": "", "stock": "25", "limit_count": "", "limit_period": "ever",
            "available_from_0": "", "available_from_1": "", "available_until_0": "",
            "available_until_1": "", "voucher_validity_days": "60", "active": "on",
            "position": "0"}
    return {**data, **fields}


def test_a_reward_is_created_in_both_languages_with_its_stores(root_client, paris):
    lyon = StoreFactory(code="lyon", name="Lyon")
    page = root_client.get(url(Reward, "add")).content.decode()
    for label in ("Name [en]", "Name [fr]", "Description [en]", "Description [fr]",
                  "Usable in"):
        assert label in page
    response = root_client.post(url(Reward, "add"), form_data(stores=[paris.pk, lyon.pk]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    item = Reward.objects.get()
    assert (item.name_en, item.name_fr, item.description_en, item.description_fr,
            item.stock) == ("Tote bag", "Tote bag", "A bag", "Un sac", 25)
    assert set(item.stores.values_list("code", flat=True)) == {"paris", "lyon"}


@pytest.mark.parametrize("fields, field", [
    ({"kind": "percent_voucher", "value": "150"}, "value"),
    ({"kind": "amount_voucher", "value": "0"}, "value"),
    ({"available_from_0": "2030-01-02", "available_from_1": "10:00",
      "available_until_0": "2030-01-01", "available_until_1": "10:00"}, "available_until"),
    ({"points_cost": "0"}, "points_cost"),
])
def test_the_model_rules_are_checked_by_the_admin_form(root_client, fields, field):
    response = root_client.post(url(Reward, "add"), form_data(**fields))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Reward.objects.exists()


def test_editing_a_reward_does_not_undo_redemptions_made_meanwhile(root_client, member):
    item = reward(stock=5)
    shown = root_client.get(url(Reward, "change", item.pk)).content.decode()
    assert re.search(r'name="initial-stock" value="5"', shown)
    issue(member, item)  # the stock goes to 4 while the page is open
    data = form_data(name_en="Renamed", kind="amount_voucher", value="10", points_cost="100",
                     stock="5", **{"initial-stock": "5"})
    assert root_client.post(url(Reward, "change", item.pk), data).status_code == 302
    item.refresh_from_db()
    assert (item.name, item.stock) == ("Renamed", 4)
    # A stock the admin does change is written as given.
    data.update({"stock": "30", "initial-stock": "4"})
    assert root_client.post(url(Reward, "change", item.pk), data).status_code == 302
    item.refresh_from_db()
    assert item.stock == 30


def test_a_reward_in_use_cannot_be_deleted(root_client, catalogue_data):
    response = root_client.post(url(Reward, "delete", catalogue_data.pk), {"post": "yes"})
    assert response.status_code == 200  # Django's "cannot delete: protected" page
    assert Reward.objects.filter(pk=catalogue_data.pk).exists()


# --- Vouchers: search, QR, actions ---------------------------------------------------------


@pytest.mark.parametrize("shape", ["formatted lower", "plain", "spaced"])
def test_a_voucher_is_found_by_its_code_however_it_is_typed(root_client, member, shape):
    voucher = issue(member)
    issue(member)
    term = {"formatted lower": voucher.formatted_code.lower(), "plain": voucher.code,
            "spaced": " ".join(voucher.formatted_code.split("-"))}[shape]
    response = root_client.get(reverse(VOUCHERS), {"q": term})
    assert list(response.context["cl"].result_list) == [voucher]


def test_vouchers_filter_by_status_and_kind(root_client, catalogue_data):
    response = root_client.get(reverse(VOUCHERS), {"status__exact": "used"})
    assert {v.status for v in response.context["cl"].result_list} == {"used"}
    response = root_client.get(reverse(VOUCHERS), {"kind__exact": "gift"})
    assert list(response.context["cl"].result_list) == []


def test_a_voucher_page_shows_its_qr_code_inline(root_client, member):
    voucher = issue(member)
    page = root_client.get(url(Voucher, "change", voucher.pk)).content.decode()
    assert "<svg" in page and voucher.formatted_code in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert "style=" not in svg


def act(client, action, vouchers, **data):
    return client.post(reverse(VOUCHERS), {
        "action": action, "_selected_action": [v.pk for v in vouchers], **data}, follow=True)


def test_marking_vouchers_used_asks_for_the_store_and_order_first(root_client, member, paris):
    voucher = issue(member)
    page = act(root_client, "mark_used", [voucher])
    assert page.status_code == 200
    assert "order_id" in page.context["form"].fields
    voucher.refresh_from_db()
    assert voucher.status == "issued"
    done = act(root_client, "mark_used", [voucher], apply="1", store=paris.pk,
               order_id="T-42")
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_order_id, voucher.used_store) == ("used", "T-42",
                                                                           paris)
    assert any("1 voucher used" in text for text in texts(done))


def test_marking_used_reports_each_voucher_that_cannot_be_used(root_client, member, paris):
    ok, used = issue(member), issue(member)
    redeem_voucher(code=used.code, order_id="EARLIER", store=paris)
    done = act(root_client, "mark_used", [ok, used], apply="1", store=paris.pk,
               order_id="T-43")
    messages = texts(done)
    assert any(used.formatted_code in text and "already been used" in text
               for text in messages), messages
    ok.refresh_from_db()
    used.refresh_from_db()
    assert (ok.used_order_id, used.used_order_id) == ("T-43", "EARLIER")


def test_cancelling_vouchers_confirms_then_refunds_the_points(root_client, member, paris,
                                                              ledger_is_sound):
    ready, used = issue(member), issue(member)
    redeem_voucher(code=used.code, order_id="A-1", store=paris)
    page = act(root_client, "cancel_and_refund", [ready, used])
    assert page.status_code == 200 and ready.formatted_code in page.content.decode()
    ready.refresh_from_db()
    assert ready.status == "issued"
    done = act(root_client, "cancel_and_refund", [ready, used], apply="1")
    ready.refresh_from_db()
    used.refresh_from_db()
    member.refresh_from_db()
    assert (ready.status, used.status, member.balance) == ("cancelled", "used", 100)
    messages = texts(done)
    assert any("1 voucher cancelled" in text for text in messages)
    assert any(used.formatted_code in text for text in messages)
    entry = PointsEntry.objects.get(kind="cancel")
    assert entry.created_by.email == "root@example.com"
    ledger_is_sound()


def test_voucher_actions_need_the_permission_and_a_store(rf, paris):
    model_admin = admin.site._registry[Voucher]
    request = rf.get("/")
    request.user = staff_user("view_voucher")
    assert set(model_admin.get_actions(request)) == set()
    request.user = staff_user("view_voucher", "change_voucher")
    assert set(model_admin.get_actions(request)) == {"cancel_and_refund"}
    request.user = staff_user("view_voucher", "change_voucher", store=paris)
    assert set(model_admin.get_actions(request)) == {"cancel_and_refund", "mark_used"}


# --- Redeem for a member ----------------------------------------------------------------------


def redeem_page(item):
    return reverse("admin:rewards_reward_redeem", args=[item.pk])


def hidden_id(response) -> str:
    return re.search(r'name="redemption_id" value="([^"]+)"',
                     response.content.decode()).group(1)


def test_redeeming_for_a_member_spends_once_per_page(root_client, member, paris):
    give(member, 250)
    item = reward(points_cost=100, stock=3)
    shown = root_client.get(redeem_page(item))
    assert shown.status_code == 200
    rid = hidden_id(shown)
    data = {"member_id": member.pk, "store": paris.pk, "redemption_id": rid}
    first = root_client.post(redeem_page(item), data)
    voucher = Voucher.objects.get()
    assert first.status_code == 302 and first["Location"] == url(Voucher, "change", voucher.pk)
    again = root_client.post(redeem_page(item), data)
    assert again.status_code == 302
    assert Redemption.objects.count() == 1
    redemption = Redemption.objects.get()
    assert (redemption.store, redemption.redemption_id) == (paris, rid)
    member.refresh_from_db()
    item.refresh_from_db()
    assert (member.balance, item.stock) == (150, 2)
    assert redemption.entry.created_by.email == "root@example.com"


@pytest.mark.parametrize("case, field", [
    ("unknown member", "member_id"),
    ("not enough points", None),
    ("tier", None),
])
def test_redeeming_for_a_member_reports_errors_on_the_form(root_client, member, paris, case,
                                                           field):
    give(member, 50)
    gold = TierFactory(code="gold", name="Gold", rank=3)
    item = reward(points_cost=100 if case != "tier" else 10,
                  tier_required=gold if case == "tier" else None)
    member_id = 999999 if case == "unknown member" else member.pk
    response = root_client.post(redeem_page(item), {
        "member_id": member_id, "store": paris.pk, "redemption_id": "admin-x"})
    assert response.status_code == 200
    form = response.context["form"]
    errors = form.errors.get(field) if field else form.non_field_errors()
    assert errors, form.errors
    assert not Redemption.objects.exists()
    assert Member.objects.get(pk=member.pk).balance == 50


def test_the_redeem_action_opens_the_page_for_one_reward(root_client, catalogue_data):
    response = root_client.post(reverse(REWARDS), {
        "action": "redeem_for_member", "_selected_action": [catalogue_data.pk]})
    assert response.status_code == 302 and response["Location"] == redeem_page(catalogue_data)
    two = root_client.post(reverse(REWARDS), {
        "action": "redeem_for_member",
        "_selected_action": list(Reward.objects.values_list("pk", flat=True))}, follow=True)
    assert "Select exactly one reward" in " ".join(texts(two))


def test_a_cashier_redeems_only_in_their_own_store(client, member, paris):
    lyon = StoreFactory(code="lyon", name="Lyon")
    cashier = staff_user("view_reward", store=paris)
    client.force_login(cashier)
    give(member, 500)
    item = reward()
    response = client.post(redeem_page(item), {"member_id": member.pk, "store": lyon.pk,
                                                "redemption_id": "admin-y"})
    assert response.status_code == 200 and "store" in response.context["form"].errors
    response = client.post(redeem_page(item), {"member_id": member.pk, "store": paris.pk,
                                               "redemption_id": "admin-y"})
    assert response.status_code == 302 and Redemption.objects.get().store == paris


def test_without_a_store_nobody_redeems_for_a_member(client, member):
    client.force_login(staff_user("view_reward"))
    assert client.get(redeem_page(reward())).status_code == 403


def test_the_reward_page_links_to_redeeming_for_a_member(root_client, catalogue_data):
    page = root_client.get(url(Reward, "change", catalogue_data.pk)).content.decode()
    assert redeem_page(catalogue_data) in page
