"""The admin: every page loads, the ledger is read-only, actions go through the services."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffRole, User
from loyalty.models import (
    Campaign,
    Card,
    ExternalId,
    IdempotencyRecord,
    Member,
    MemberMerge,
    PointsEntry,
    PointsLot,
    Programme,
    Purchase,
    TierChange,
    WebhookEndpoint,
)
from loyalty.services import actions, campaigns, claims, ledger, purchases, reviews
from loyalty.services import cards as card_services
from loyalty.services import members as member_services
from loyalty.services.apikeys import create_api_key
from loyalty.services.imports import jobs as import_jobs
from loyalty.services.insight import run_insight
from tests.factories import (
    ActionRuleFactory,
    EarningRuleFactory,
    MultiplierFactory,
    StaffRoleFactory,
    TierFactory,
    UserFactory,
    make_member,
)

pytestmark = pytest.mark.django_db

OUR_MODELS = [model for label in ("loyalty", "accounts")
              for model in apps.get_app_config(label).get_models()]
CHANGELIST = "admin:loyalty_member_changelist"


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def programme_data(store, web_store, scale, member, superuser):
    """At least one row of every model, made the way the programme makes them."""
    TierFactory(code="bronze", name="Bronze", rank=0, threshold=0)
    gold = TierFactory(code="gold", name="Gold", rank=1, threshold=100)
    MultiplierFactory(name="Shoes ×2", category="shoes", tier=gold)
    ActionRuleFactory(event_type="review_posted", points=10)
    WebhookEndpoint.objects.create(store=store, url="https://shop.example.com/hooks",
                                   events=["points.earned"])
    create_api_key(name="e-shop", store_code=web_store.code)
    IdempotencyRecord.objects.create(owner="key:test", key="k-1", request_hash="0" * 64,
                                     status_code=201, response_body={"id": 1},
                                     expires_at=timezone.now() + timedelta(days=1))
    purchase = purchases.record_purchase(
        store=store, order_id="A-1", amount="120.00", member=member,
        items=[{"sku": "SHOE-1", "category": "shoes", "quantity": 1,
                "unit_price": "120.00"}]).obj
    purchases.record_refund(purchase=purchase, refund_id="R-1", amount="20.00",
                            items=[{"sku": "SHOE-1", "quantity": 1, "unit_price": "20.00"}])
    unclaimed = purchases.record_purchase(store=store, order_id="T-1", amount="12.00",
                                          member=None).obj
    claims.claim_purchase(code=claims.issue_claim(purchase=unclaimed).obj.code, member=member)
    actions.record_action(member=member, event_type="review_posted", event_id="ev-1",
                          store=store)
    review = reviews.post_review(member=member, purchase_id=purchase.pk, rating=1,
                                 comment="Too small").obj
    reviews.follow_up_review(review_id=review.pk, by=superuser, note="Exchanged")
    ledger.adjust_points(member_id=member.pk, points=5, reason="Welcome", by=superuser)
    member_services.set_consent(member_id=member.pk, channel="email", granted=True,
                                source="test")
    ExternalId.objects.create(member=member, store=web_store, value="C-1")
    kept = make_member(email="kept@example.com")
    duplicate = make_member(email="duplicate@example.com")
    member_services.merge_members(survivor_id=kept.pk, duplicate_id=duplicate.pk,
                                  by=superuser, reason="Same person")
    StaffRoleFactory(user=UserFactory(is_staff=True), store=store,
                     role=StaffRole.Role.MANAGER)
    Programme.load()
    run_insight(by=superuser)  # scores, segment and stage histories, snapshot, value fit
    import_jobs.create_job(kind="purchases", store=store, filename="history.csv",
                           content=b"customer_ref,order_id,occurred_at,amount\n", by=superuser)
    from loyalty.models import Journey, Message
    from loyalty.services.messaging import delivery

    welcome = Journey.objects.get(kind="welcome")
    delivery.queue([Message(member=member, journey=welcome, kind=welcome.kind,
                            occasion=f"welcome:{member.pk}", channel=welcome.channel,
                            purpose=welcome.purpose, context={})])
    campaign = Campaign.objects.create(name="Win-back", subject="Hi", body="Back?",
                                       status=Campaign.Status.SENDING, holdout_percent=0)
    campaigns.send_campaign(campaign_id=campaign.pk)  # a campaign member and its message
    from django.utils import timezone as tz

    from loyalty.models import EmailBounce
    from loyalty.services import bonuses

    bonuses.grant_bonuses(member_keys=[(member.pk, f"second_purchase:{member.pk}")],
                          factor=None, points=50, starts_at=tz.now(),
                          expires_at=tz.now() + timedelta(days=7))
    EmailBounce.objects.create(address="x@example.com", member=member, event="bounced",
                               event_id="evt-1", at=tz.now())
    return member


def adjust(client, members, **data):
    return client.post(reverse(CHANGELIST), {
        "action": "adjust_points", "_selected_action": [m.pk for m in members], "apply": "1",
        **data}, follow=True)


def staff_with_role(role, store, *perms):
    user = UserFactory(is_staff=True)
    StaffRoleFactory(user=user, store=store, role=role)
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="loyalty", codename__in=perms))
    return User.objects.get(pk=user.pk)  # fresh, without a cached permission set


# --- Every page -------------------------------------------------------------------------


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda model: model._meta.label)
def test_every_model_is_registered(model):
    assert model in admin.site._registry


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda model: model._meta.label)
def test_every_changelist_and_change_page_loads(root_client, programme_data, model):
    response = root_client.get(url(model, "changelist"), follow=True)
    assert response.status_code == 200
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"the fixture makes no {model._meta.label}"
    assert root_client.get(url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda model: model._meta.label)
def test_add_pages_load_where_adding_is_allowed_and_are_refused_elsewhere(
        rf, root_client, superuser, programme_data, model):
    request = rf.get("/")
    request.user = superuser
    addable = admin.site._registry[model].has_add_permission(request)
    expected = 200 if addable else 403
    assert root_client.get(url(model, "add")).status_code == expected


@pytest.mark.parametrize("term", ["card", "plastic", "C-1", "06 12 34 56 78", "Curie",
                                  "marie@"])
def test_the_member_list_finds_a_member_by_any_identity(root_client, programme_data, term):
    member = programme_data
    member.phone = "+33612345678"
    member.save(update_fields=["phone"])
    plastic = card_services.issue_card(member_id=member.pk)
    term = {"card": member.card_number, "plastic": plastic.number}.get(term, term)
    response = root_client.get(reverse(CHANGELIST), {"q": term, "status__exact": "active"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [member]


def test_the_history_links_of_a_member_page_list_their_rows(root_client, programme_data):
    member = programme_data
    page = root_client.get(url(Member, "change", member.pk)).content.decode()
    for model in (PointsEntry, Purchase):
        link = f"{url(model, 'changelist')}?member__id__exact={member.pk}"
        assert link in page
        listed = root_client.get(link).context["cl"].result_list
        assert {row.member_id for row in listed} == {member.pk}


# --- The ledger is read-only --------------------------------------------------------------


@pytest.mark.parametrize("model", [PointsEntry, PointsLot])
def test_nobody_can_add_change_or_delete_ledger_rows(rf, root_client, superuser,
                                                     programme_data, model):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = superuser
    obj = model.objects.first()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, obj)
    assert not model_admin.has_delete_permission(request, obj)
    assert model_admin.has_view_permission(request, obj)
    assert "delete_selected" not in model_admin.get_actions(request)

    count = model.objects.count()
    assert root_client.get(url(model, "add")).status_code == 403
    assert root_client.post(url(model, "add"), {}).status_code == 403
    assert root_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    response = root_client.post(url(model, "change", obj.pk), {"points": "999999"})
    assert response.status_code == 403
    assert model.objects.count() == count
    obj.refresh_from_db()
    assert obj.points != 999999


@pytest.mark.parametrize("model", [Purchase, MemberMerge, TierChange])
def test_records_made_by_services_are_read_only(rf, superuser, model):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = superuser
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_a_purchase_page_shows_its_breakdown_escaped(root_client, store, member):
    EarningRuleFactory(name="<b>Bold</b> rule", points_per_unit=1)
    purchase = purchases.record_purchase(store=store, order_id="X-1", amount="10.00",
                                         member=member).obj
    response = root_client.get(url(Purchase, "change", purchase.pk))
    body = response.content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; rule" in body
    assert "<b>Bold</b>" not in body


# --- Adjusting points ---------------------------------------------------------------------


def test_the_adjust_action_asks_for_points_and_a_reason_first(root_client, member):
    response = root_client.post(reverse(CHANGELIST), {
        "action": "adjust_points", "_selected_action": [member.pk]})
    assert response.status_code == 200
    assert response.templates[0].name == "admin/loyalty/member/adjust_points.html"
    assert 'name="reason"' in response.content.decode()
    assert not PointsEntry.objects.exists()


def test_the_adjust_action_credits_through_the_ledger(root_client, superuser, member,
                                                      ledger_is_sound):
    response = adjust(root_client, [member], points="120", reason="Goodwill")
    assert response.status_code == 200
    member.refresh_from_db()
    assert member.balance == 120
    entry = PointsEntry.objects.get(member=member)
    assert (entry.kind, entry.points, entry.reason, entry.created_by) == (
        PointsEntry.Kind.ADJUST, 120, "Goodwill", superuser)
    ledger_is_sound()


def test_the_adjust_action_debits_through_the_ledger(root_client, superuser, member,
                                                     ledger_is_sound):
    ledger.adjust_points(member_id=member.pk, points=100, reason="Start", by=superuser)
    adjust(root_client, [member], points="-30", reason="Correction")
    member.refresh_from_db()
    assert member.balance == 70
    entry = PointsEntry.objects.filter(member=member).first()
    assert (entry.kind, entry.points, entry.reason, entry.created_by) == (
        PointsEntry.Kind.ADJUST, -30, "Correction", superuser)
    ledger_is_sound()


def test_the_adjust_action_works_on_several_members(root_client, member):
    other = make_member(email="other@example.com")
    adjust(root_client, [member, other], points="10", reason="Event")
    assert sorted(Member.objects.values_list("balance", flat=True)) == [10, 10]


@pytest.mark.parametrize("data", [{"points": "10", "reason": "  "},
                                  {"points": "10"},
                                  {"points": "0", "reason": "Nothing"},
                                  {"points": "ten", "reason": "Typo"}])
def test_the_adjust_action_refuses_an_incomplete_form(root_client, member, data):
    response = adjust(root_client, [member], **data)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not PointsEntry.objects.exists()


def test_an_action_on_too_many_members_is_refused(root_client, member, monkeypatch):
    monkeypatch.setattr("loyalty.admin.base.MAX_MEMBERS_PER_ACTION", 1)
    other = make_member(email="other@example.com")
    response = adjust(root_client, [member, other], points="10", reason="Event")
    assert any("at most 1" in str(message) for message in response.context["messages"])
    assert not PointsEntry.objects.exists()


def test_a_debit_larger_than_the_balance_is_an_error_message_not_a_500(root_client, member):
    ledger.adjust_points(member_id=member.pk, points=10, reason="Start")
    response = adjust(root_client, [member], points="-50", reason="Too much")
    assert response.status_code == 200
    shown = [str(message) for message in response.context["messages"]]
    assert any("Not enough points" in message for message in shown)
    member.refresh_from_db()
    assert member.balance == 10
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_managers_may_adjust_points_and_cashiers_may_not(client, store, member):
    manager = staff_with_role(StaffRole.Role.MANAGER, store, "view_member", "change_member")
    client.force_login(manager)
    adjust(client, [member], points="5", reason="Manager's call")
    member.refresh_from_db()
    assert member.balance == 5

    choices = dict(client.get(reverse(CHANGELIST)).context["action_form"].fields["action"].choices)
    assert "merge_members" not in choices  # merging is for programme admins

    cashier = staff_with_role(StaffRole.Role.CASHIER, store, "view_member", "change_member")
    client.force_login(cashier)
    response = client.get(reverse(CHANGELIST))
    assert "adjust_points" not in dict(response.context["action_form"].fields["action"].choices)
    adjust(client, [member], points="5", reason="Cashier's call")
    member.refresh_from_db()
    assert member.balance == 5


# --- Merging, tiers, cards -----------------------------------------------------------------


def test_the_merge_action_merges_the_duplicate_into_the_chosen_member(root_client, superuser,
                                                                      member,
                                                                      ledger_is_sound):
    duplicate = make_member(email="twin@example.com", phone="+33612345678")
    ledger.adjust_points(member_id=duplicate.pk, points=40, reason="Start")
    selection = {"action": "merge_members", "_selected_action": [member.pk, duplicate.pk]}
    page = root_client.post(reverse(CHANGELIST), selection)
    assert page.templates[0].name == "admin/loyalty/member/merge_members.html"

    response = root_client.post(reverse(CHANGELIST), {
        **selection, "apply": "1", "survivor": member.pk, "reason": "Same person"})
    assert response.status_code == 302
    assert response["Location"] == url(Member, "change", member.pk)
    duplicate.refresh_from_db()
    member.refresh_from_db()
    assert duplicate.status == Member.Status.MERGED and duplicate.merged_into == member
    assert member.balance == 40 and member.phone == "+33612345678"
    record = MemberMerge.objects.get()
    assert (record.survivor, record.performed_by, record.reason) == (
        member, superuser, "Same person")
    ledger_is_sound()


def test_the_merge_action_needs_exactly_two_members(root_client, member):
    response = root_client.post(reverse(CHANGELIST), {
        "action": "merge_members", "_selected_action": [member.pk]}, follow=True)
    assert any("exactly two" in str(message) for message in response.context["messages"])
    assert not MemberMerge.objects.exists()


def test_a_refused_merge_is_a_message(root_client, member):
    other = make_member(email="other@example.com")
    for each in (member, other):
        each.user = UserFactory()
        each.save(update_fields=["user"])
    response = root_client.post(reverse(CHANGELIST), {
        "action": "merge_members", "_selected_action": [member.pk, other.pk], "apply": "1",
        "survivor": member.pk, "reason": "Same"}, follow=True)
    assert response.status_code == 200
    assert any("cannot be merged" in str(message) for message in response.context["messages"])
    assert not MemberMerge.objects.exists()


def test_the_reevaluate_action_sets_the_tier_the_window_supports(root_client, member):
    TierFactory(code="bronze", rank=0, threshold=0)
    gold = TierFactory(code="gold", rank=1, threshold=50)
    ledger.adjust_points(member_id=member.pk, points=10, reason="Start")
    member.tier = gold
    member.save(update_fields=["tier"])
    root_client.post(reverse(CHANGELIST), {"action": "reevaluate_tier",
                                           "_selected_action": [member.pk]})
    member.refresh_from_db()
    assert member.tier.code == "bronze"
    assert TierChange.objects.filter(member=member, reason="reevaluation").exists()


def test_the_block_action_blocks_cards(root_client, member):
    card = member.cards.get()
    root_client.post(url(Card, "changelist"), {"action": "block_card",
                                               "_selected_action": [card.pk]})
    card.refresh_from_db()
    assert card.status == Card.Status.BLOCKED and card.blocked_at is not None


# --- Creating and editing members ----------------------------------------------------------


def test_adding_a_member_enrols_them_with_a_card(root_client, store):
    response = root_client.post(url(Member, "add"), {
        "email": "  New@Example.com ", "phone": "06 12 34 56 78", "first_name": "Ada",
        "last_name": "", "birth_date": "", "language": "fr", "external_id": "E-9",
        "store": store.pk})
    member = Member.objects.get()
    assert response.status_code == 302
    assert (member.email, member.phone) == ("new@example.com", "+33612345678")
    assert member.cards.get().number == member.card_number
    assert member.external_ids.get().value == "E-9"


def test_adding_a_member_that_exists_shows_a_form_error(root_client, member):
    response = root_client.post(url(Member, "add"), {"email": "marie@example.com"})
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert Member.objects.count() == 1


def test_adding_a_member_with_a_bad_phone_shows_it_on_the_field(root_client):
    response = root_client.post(url(Member, "add"), {"phone": "12"})
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Member.objects.exists()


def change_form_data(client, obj, **changes):
    """What the change page would post back, with `changes` made."""
    page = client.get(url(type(obj), "change", obj.pk))
    form = page.context["adminform"].form
    data = {name: "" if value is None else value
            for name, value in ((field.html_name, field.value()) for field in form)}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data |= {management[name].html_name: management[name].value()
                 for name in management.fields}
        for sub in formset.forms:
            data |= {field.html_name: "" if field.value() is None else field.value()
                     for field in sub}
    return data | changes


def test_editing_a_member_saves_what_changed(root_client, member):
    data = change_form_data(root_client, member, last_name="Skłodowska-Curie",
                            phone="06 12 34 56 78")
    response = root_client.post(url(Member, "change", member.pk), data)
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.last_name, member.phone) == ("Skłodowska-Curie", "+33612345678")


def test_editing_a_member_keeps_the_points_the_ledger_wrote_meanwhile(rf, superuser, member):
    from loyalty.admin.forms import MemberChangeForm

    stale = Member.objects.get(pk=member.pk)
    form = MemberChangeForm({"first_name": "Marie", "last_name": "Skłodowska-Curie",
                             "email": member.email}, instance=stale)
    assert form.is_valid(), form.errors
    ledger.adjust_points(member_id=member.pk, points=25, reason="Meanwhile")
    request = rf.post("/")
    request.user = superuser
    admin.site._registry[Member].save_model(request, form.save(commit=False), form, True)
    member.refresh_from_db()
    assert member.last_name == "Skłodowska-Curie"
    assert member.balance == 25


def test_a_merged_member_page_is_a_record_with_nothing_to_edit(root_client, programme_data):
    merged = Member.objects.get(status=Member.Status.MERGED)
    response = root_client.get(url(Member, "change", merged.pk))
    assert response.status_code == 200
    assert not list(response.context["adminform"].form.fields)
    assert all(not inline.has_add_permission
               for inline in response.context["inline_admin_formsets"])


def test_the_programme_list_is_its_settings_page(root_client, programme_data):
    response = root_client.get(url(Programme, "changelist"))
    assert response.status_code == 302
    assert response["Location"] == url(Programme, "change", 1)
    assert root_client.get(url(Programme, "add")).status_code == 403
    assert root_client.post(url(Programme, "delete", 1), {"post": "yes"}).status_code == 403


def test_a_rule_clean_runs_in_the_admin_form(root_client):
    response = root_client.post(url(EarningRuleFactory._meta.model, "add"), {
        "name": "Backwards", "active": "on", "priority": "0", "stackable": "on",
        "points_per_unit": "1", "starts_at_0": "2025-06-02", "starts_at_1": "10:00",
        "ends_at_0": "2025-06-01", "ends_at_1": "10:00", "category": "shoes", "sku": ""})
    assert response.status_code == 200
    assert "ends_at" in response.context["adminform"].form.errors


def test_a_user_is_added_with_an_email_only(root_client):
    response = root_client.post(url(User, "add"), {
        "email": "Staff@Example.com", "usable_password": "true",
        "password1": "a-long-Passw0rd!", "password2": "a-long-Passw0rd!"})
    assert response.status_code == 302
    assert User.objects.filter(email="staff@example.com").exists()


# --- Speed and access -----------------------------------------------------------------------


def test_the_member_list_makes_the_same_few_queries_for_many_members(
        root_client, store, django_assert_max_num_queries):
    TierFactory(code="bronze", rank=0, threshold=0)
    for n in range(3):
        make_member(email=f"few{n}@example.com")
    with CaptureQueriesContext(connection) as few:
        assert root_client.get(reverse(CHANGELIST)).status_code == 200
    for n in range(27):
        make_member(email=f"many{n}@example.com")
    with django_assert_max_num_queries(12) as many:
        response = root_client.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 30
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_member_page_makes_the_same_few_queries_for_a_long_history(root_client, member):
    ledger.adjust_points(member_id=member.pk, points=1, reason="One")
    root_client.get(url(Member, "change", member.pk))  # warm per-process caches first
    with CaptureQueriesContext(connection) as short:
        root_client.get(url(Member, "change", member.pk))
    for n in range(30):
        ledger.adjust_points(member_id=member.pk, points=1, reason=f"More {n}")
    with CaptureQueriesContext(connection) as long:
        response = root_client.get(url(Member, "change", member.pk))
    assert response.status_code == 200
    assert len(long.captured_queries) == len(short.captured_queries)


def test_a_cashier_cannot_reach_the_admin(client, store):
    cashier = UserFactory()
    StaffRoleFactory(user=cashier, store=store, role=StaffRole.Role.CASHIER)
    client.force_login(cashier)
    for path in ("/admin/", reverse(CHANGELIST)):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_a_member_page_lists_their_latest_messages_with_status_and_reason(root_client, member):
    from django.utils import timezone

    from loyalty.models import Journey, Message

    Message.objects.create(member=member, journey=Journey.objects.get(kind="birthday"),
                           kind="birthday", occasion="birthday:admin:1", channel="sms",
                           purpose="marketing", status="suppressed", reason="no_consent",
                           created_at=timezone.now())
    page = root_client.get(reverse("admin:loyalty_member_change", args=[member.pk]))
    html = page.content.decode()
    assert "messages (most recent)" in html.lower()
    assert "No consent for this channel" in html
