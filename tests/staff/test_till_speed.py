"""The till built for speed (issue #13, section 4): keyboard first, confirmations asked on
the server, refunds and voucher undo for managers, search by name, the cashier recorded,
caps said, and an enrolment that welcomes as the web does."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffRole
from loyalty.models import Card, ConsentChange, Journey, Member, Message, PointsEntry, Purchase
from loyalty.models import Refund as RefundRow
from loyalty.services import actions, ledger, purchases
from loyalty.services.errors import NotFound, UndoWindowPassed, VoucherNotUsed
from loyalty.staff.forms import PurchaseForm, normalise_amount
from rewards import services as reward_services
from rewards.models import Redemption, Reward, Voucher
from tests.factories import (
    ActionRuleFactory,
    StaffRoleFactory,
    UserFactory,
    make_member,
    programme,
)
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def lookup(client, code, **extra):
    return client.post(reverse("staff:lookup"), {"store": "paris", "code": code}, **extra)


def found(client, member):
    assert lookup(client, member.card_number, **HX).status_code == 200
    return client


def buy(client, member, amount, order_id, **extra):
    return client.post(reverse("staff:purchase"), {
        "store": "paris", "member": member.pk, "amount": amount, "order_id": order_id,
        **extra}, **HX)


def reward(**fields) -> Reward:
    defaults = {"name": "10 € voucher", "kind": Reward.Kind.AMOUNT, "value": Decimal("10"),
                "points_cost": 100}
    return Reward.objects.create(**{**defaults, **fields})


def used_voucher(member, store, *, order_id="till-used"):
    ledger.adjust_points(member_id=member.pk, points=100, reason="test")
    voucher = reward_services.redeem_reward(member=member, reward_id=reward().pk,
                                            redemption_id=f"r-{order_id}").obj.voucher
    return reward_services.redeem_voucher(code=voucher.code, order_id=order_id,
                                          store=store).obj


# --- keyboard first --------------------------------------------------------------------------


def test_the_search_box_has_the_focus_when_the_page_opens(cashier_client, store):
    content = cashier_client.get(reverse("staff:scan"), {"store": "paris"}).content.decode()
    start = content.index('id="id_code"')
    tag = content[content.rindex("<input", 0, start):content.index(">", start)]
    assert "autofocus" in tag


def test_after_a_sale_next_customer_is_offered_and_focused(cashier_client, marie):
    found(cashier_client, marie)
    content = buy(cashier_client, marie, "10", "till-next").content.decode()
    start = content.index('id="next-customer"')
    tag = content[content.rindex("<a", 0, start):content.index(">", start)]
    assert "autofocus" in tag and "?store=paris" in tag
    assert "Next customer" in content


@pytest.mark.parametrize("typed, value", [
    ("42,50", "42.50"), ("42.50", "42.50"), ("1 234,50", "1234.50"),
    ("1\u202f234,50", "1234.50"), ("1,234.50", "1234.50"), ("1.234,50", "1234.50"),
    ("42,5", "42.5"), ("42", "42"), ("1,234", "1,234")])
def test_amounts_are_read_as_a_till_types_them(typed, value):
    assert normalise_amount(typed) == value


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_the_decimal_comma_works_in_every_language(cashier_client, marie, language):
    found(cashier_client, marie)
    response = cashier_client.post(reverse("staff:purchase"), {
        "store": "paris", "member": marie.pk, "amount": "42,50", "order_id": "till-comma"},
        HTTP_ACCEPT_LANGUAGE=language, **HX)
    assert response.status_code == 200
    assert Purchase.objects.get().amount == Decimal("42.50")


def test_the_form_itself_parses_the_comma_without_any_script():
    form = PurchaseForm({"member": 1, "amount": "42,50", "order_id": "x"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == Decimal("42.50")


@override_settings(LOYALTY_TILL_CONFIRM_ABOVE="500.00")
def test_a_large_amount_is_recorded_only_once_confirmed(cashier_client, marie):
    found(cashier_client, marie)
    asked = buy(cashier_client, marie, "4250", "till-big")
    assert asked.status_code == 200
    assert not Purchase.objects.exists()
    assert "Record a purchase of €4,250.00?" in page_text(asked)
    assert 'name="confirm" value="1"' in asked.content.decode()
    confirmed = buy(cashier_client, marie, "4250", "till-big", confirm="1")
    assert confirmed.status_code == 200
    assert Purchase.objects.get().amount == Decimal("4250")
    # Below the threshold, nothing is asked.
    buy(cashier_client, marie, "500", "till-small")
    assert Purchase.objects.count() == 2


@override_settings(LOYALTY_TILL_CONFIRM_ABOVE="")
def test_no_threshold_asks_nothing(cashier_client, marie):
    found(cashier_client, marie)
    buy(cashier_client, marie, "9999", "till-none")
    assert Purchase.objects.count() == 1


def test_redeem_asks_to_confirm_first(cashier_client, marie, store):
    tote = reward(name="Tote bag")
    ledger.adjust_points(member_id=marie.pk, points=150, reason="test")
    found(cashier_client, marie)
    form = {"store": "paris", "member": marie.pk, "reward": tote.pk, "redemption_id": "till-c"}
    asked = cashier_client.post(reverse("staff:redeem-reward"), form, **HX)
    assert asked.status_code == 200
    assert "Spend 100 points on Tote bag?" in page_text(asked)
    assert not Redemption.objects.exists()
    done = cashier_client.post(reverse("staff:redeem-reward"), {**form, "confirm": "1"}, **HX)
    assert done.status_code == 200 and Redemption.objects.count() == 1


def test_use_now_asks_to_confirm_first(cashier_client, marie, store):
    ledger.adjust_points(member_id=marie.pk, points=100, reason="test")
    voucher = reward_services.redeem_reward(member=marie, reward_id=reward().pk,
                                            redemption_id="p-1").obj.voucher
    found(cashier_client, marie)
    form = {"store": "paris", "member": marie.pk, "voucher": voucher.pk, "order_id": "till-u"}
    asked = cashier_client.post(reverse("staff:redeem-voucher"), form, **HX)
    assert "Use voucher" in page_text(asked)
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED
    cashier_client.post(reverse("staff:redeem-voucher"), {**form, "confirm": "1"}, **HX)
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED


# --- undoing a voucher's use -------------------------------------------------------------------


def test_a_voucher_used_by_mistake_is_put_back_and_audited(marie, store, manager):
    voucher = used_voucher(marie, store)
    back = reward_services.undo_voucher_use(voucher_id=voucher.pk, store=store, by=manager)
    assert back.status == Voucher.Status.ISSUED
    assert back.used_at is None and back.used_order_id == "" and back.used_store is None
    # Usable again, for another order.
    again = reward_services.redeem_voucher(code=voucher.code, order_id="till-2", store=store)
    assert again.created
    entry = LogEntry.objects.get(object_id=str(voucher.pk))
    assert entry.user == manager and "till-used" in entry.change_message


@override_settings(LOYALTY_VOUCHER_UNDO_MINUTES=10)
def test_the_undo_is_refused_after_the_window(marie, store, manager):
    voucher = used_voucher(marie, store)
    with pytest.raises(UndoWindowPassed):
        reward_services.undo_voucher_use(voucher_id=voucher.pk, store=store, by=manager,
                                         now=timezone.now() + timedelta(minutes=11))
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED


def test_only_a_used_voucher_of_this_store_can_be_undone(marie, store, lyon, manager):
    voucher = used_voucher(marie, store)
    with pytest.raises(NotFound):
        reward_services.undo_voucher_use(voucher_id=voucher.pk, store=lyon, by=manager)
    reward_services.undo_voucher_use(voucher_id=voucher.pk, store=store, by=manager)
    with pytest.raises(VoucherNotUsed):
        reward_services.undo_voucher_use(voucher_id=voucher.pk, store=store, by=manager)


def test_a_manager_undoes_from_the_panel_a_cashier_cannot(client, cashier, manager, marie,
                                                          store):
    voucher = used_voucher(marie, store)
    form = {"store": "paris", "member": marie.pk, "voucher": voucher.pk}
    client.force_login(cashier)
    panel = lookup(client, marie.card_number, **HX).content.decode()
    assert reverse("staff:undo-voucher") not in panel
    assert client.post(reverse("staff:undo-voucher"), form, **HX).status_code == 403
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED

    client.force_login(manager)
    panel = lookup(client, marie.card_number, **HX).content.decode()
    assert reverse("staff:undo-voucher") in panel
    response = client.post(reverse("staff:undo-voucher"), form, **HX)
    assert response.status_code == 200 and "usable again" in page_text(response)
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED


# --- refunds at the till -----------------------------------------------------------------------


def paid(member, store, amount="40.00", order_id="R-1001"):
    return purchases.record_purchase(store=store, order_id=order_id, amount=amount,
                                     member=member).obj


def test_a_manager_finds_a_purchase_by_its_receipt_and_refunds_part(manager_client, marie,
                                                                    store, scale):
    programme(return_window_days=0)
    bought = paid(marie, store)
    opened = manager_client.post(reverse("staff:refund-receipt"),
                                 {"store": "paris", "receipt": "R-1001"}, **HX)
    assert opened.status_code == 200
    text = page_text(opened)
    assert "Marie Curie" in text and "Receipt R-1001" in text
    content = opened.content.decode()
    refund_id = content.split('name="refund_id" value="')[1].split('"')[0]
    form = {"store": "paris", "member": marie.pk, "purchase": bought.pk,
            "refund_id": refund_id, "amount": "10,00"}
    done = manager_client.post(reverse("staff:refund"), form, **HX)
    assert done.status_code == 200
    assert "Refund of €10.00 on the purchase #R-1001 at Paris" in page_text(done)
    # The same form sent twice (a double press) refunds once.
    twice = manager_client.post(reverse("staff:refund"), form, **HX)
    assert twice.status_code == 200 and "Nothing was taken twice" in page_text(twice)
    assert RefundRow.objects.count() == 1
    bought.refresh_from_db()
    assert bought.refunded_amount == Decimal("10.00") and bought.points_reversed == 10
    marie.refresh_from_db()
    assert marie.balance == 30


def test_the_members_recent_purchases_are_offered_for_refund(manager_client, marie, store,
                                                            scale):
    paid(marie, store, order_id="R-1")
    paid(marie, store, order_id="R-2")
    panel = page_text(lookup(manager_client, marie.card_number, **HX))
    assert "Receipt R-1" in panel and "Receipt R-2" in panel


def test_a_refund_above_what_is_left_is_refused(manager_client, marie, store, scale):
    bought = paid(marie, store)
    found(manager_client, marie)
    response = manager_client.post(reverse("staff:refund"), {
        "store": "paris", "member": marie.pk, "purchase": bought.pk, "refund_id": "rf-1",
        "amount": "41"}, **HX)
    assert response.status_code == 409 and "more than what is left" in page_text(response)
    assert not RefundRow.objects.exists()


def test_cashiers_do_not_refund(cashier_client, marie, store, scale):
    bought = paid(marie, store)
    found(cashier_client, marie)
    assert "Refund" not in page_text(lookup(cashier_client, marie.card_number, **HX))
    response = cashier_client.post(reverse("staff:refund"), {
        "store": "paris", "member": marie.pk, "purchase": bought.pk, "refund_id": "rf-c",
        "amount": "5"}, **HX)
    assert response.status_code == 403
    assert cashier_client.post(reverse("staff:refund-receipt"), {
        "store": "paris", "receipt": "R-1001"}, **HX).status_code == 403
    assert not RefundRow.objects.exists()


def test_a_manager_refunds_only_in_their_stores(client, marie, store, lyon, scale):
    lyon_manager = StaffRoleFactory(user=UserFactory(email="lm@example.com"), store=lyon,
                                    role=StaffRole.Role.MANAGER).user
    bought = paid(marie, store)
    client.force_login(lyon_manager)
    # Paris is not theirs; and Lyon's till finds no Paris receipt.
    assert client.post(reverse("staff:refund-receipt"), {
        "store": "paris", "receipt": "R-1001"}, **HX).status_code == 403
    assert client.post(reverse("staff:refund-receipt"), {
        "store": "lyon", "receipt": "R-1001"}, **HX).status_code == 404
    lookup_lyon = client.post(reverse("staff:lookup"), {"store": "lyon",
                                                        "code": marie.card_number}, **HX)
    assert lookup_lyon.status_code == 200
    response = client.post(reverse("staff:refund"), {
        "store": "lyon", "member": marie.pk, "purchase": bought.pk, "refund_id": "rf-l",
        "amount": "5"}, **HX)
    assert response.status_code == 404
    assert not RefundRow.objects.exists()


# --- search by name, the cashier, the caps -------------------------------------------------


def test_a_name_finds_the_customer_whatever_the_accents_and_case(cashier_client, store, scale):
    helene = make_member(first_name="Hélène", last_name="Dupont", email="h@example.com")
    response = lookup(cashier_client, "helene DUPONT", **HX)
    assert response.status_code == 200
    assert "Hélène Dupont" in page_text(response)
    assert f'data-member="{helene.pk}"' in response.content.decode()


def test_namesakes_are_offered_to_choose_from(cashier_client, store, scale):
    first = make_member(first_name="Jean", last_name="Martin", email="j1@example.com")
    make_member(first_name="Jeanne", last_name="Martin", email="j2@example.com")
    closed = make_member(first_name="Jean", last_name="Martinez", email="j3@example.com")
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.DELETED)
    response = lookup(cashier_client, "martin", **HX)
    text = page_text(response)
    assert "Choose the customer" in text and "Jeanne Martin" in text
    assert "Martinez" not in text  # a closed member is found by nobody
    assert "j•••@example.com" in text and "j1@example.com" not in text
    picked = cashier_client.post(reverse("staff:lookup"), {"store": "paris",
                                                           "pick": first.pk}, **HX)
    assert picked.status_code == 200
    assert f'data-member="{first.pk}"' in picked.content.decode()


def test_a_pick_opens_only_a_member_offered_here(cashier_client, marie):
    response = cashier_client.post(reverse("staff:lookup"), {"store": "paris",
                                                             "pick": marie.pk}, **HX)
    assert response.status_code == 403
    assert "data-member" not in response.content.decode()


def test_the_cashier_is_recorded_on_a_till_purchase(cashier_client, cashier, marie):
    found(cashier_client, marie)
    buy(cashier_client, marie, "10", "till-who")
    bought = Purchase.objects.get()
    assert bought.cashier == cashier
    assert bought.entry.created_by == cashier


def test_a_capped_purchase_says_so(cashier_client, marie):
    programme(max_points_per_day=15)
    found(cashier_client, marie)
    first = buy(cashier_client, marie, "10", "till-cap-1")
    assert "cap" not in page_text(first).lower()
    partly = buy(cashier_client, marie, "10", "till-cap-2")
    assert "Daily cap reached: +5" in page_text(partly)
    none = buy(cashier_client, marie, "10", "till-cap-3")
    text = page_text(none)
    assert "Daily cap reached: +0" in text and "daily cap reached: +0" in text


# --- enrolment at the till ---------------------------------------------------------------------

ISSUE = "/staff/cards/new/"


def test_the_confirmation_and_the_panel_show_the_same_card_number(cashier_client, store,
                                                                  scale):
    response = cashier_client.post(ISSUE, {"store": "paris", "number": "",
                                           "email": "paul@example.com", "first_name": "Paul"})
    assert response.status_code == 302
    member = Member.objects.get(email="paul@example.com")
    page = page_text(cashier_client.get(response["Location"]))
    card = Card.objects.get(member=member)
    assert f"Card {card.number} issued to Paul" in page
    assert f"Card {member.card_number}" in page and card.number == member.card_number


def test_enrolment_records_the_consents_given(cashier_client, store, scale):
    cashier_client.post(ISSUE, {"store": "paris", "email": "ana@example.com",
                                "email_marketing": "on"})
    member = Member.objects.get(email="ana@example.com")
    assert member.email_marketing and not member.sms_marketing
    change = ConsentChange.objects.get(member=member)
    assert change.channel == "email" and change.granted and change.source == "till"


def test_an_email_opt_in_at_the_till_earns_the_promised_newsletter_points_once(
        cashier_client, store, scale):
    ActionRuleFactory(event_type="newsletter_signup", name="Newsletter", points=20)
    cashier_client.post(ISSUE, {"store": "paris", "email": "ines@example.com",
                                "email_marketing": "on"})
    member = Member.objects.get(email="ines@example.com")
    assert member.balance + member.pending == 20
    # Opting out and in again later, on the web, gives nothing twice.
    from loyalty.services.consents import set_marketing_consent

    set_marketing_consent(member_id=member.pk, channel="email", granted=False)
    set_marketing_consent(member_id=member.pk, channel="email", granted=True)
    member.refresh_from_db()
    assert member.balance + member.pending == 20


def test_the_form_asks_the_email_and_each_consent_with_its_reason(cashier_client, store):
    text = page_text(cashier_client.get(ISSUE, {"store": "paris"}))
    assert "Email" in text
    assert "offers by email" in text and "offers by SMS" in text and "Ask them" in text


def test_enrolment_at_the_till_gives_the_welcome_points_as_the_web_does(cashier_client,
                                                                       store, scale):
    ActionRuleFactory(event_type="account_created", name="Welcome bonus", points=50)
    response = cashier_client.post(ISSUE, {"store": "paris", "email": "zoe@example.com"})
    member = Member.objects.get(email="zoe@example.com")
    assert member.balance + member.pending == 50
    assert "Welcome points: +50" in page_text(cashier_client.get(response["Location"]))
    # Signing up online later (the web's path) gives nothing twice.
    actions.award_welcome(member=member, event_id="account_created:999")
    member.refresh_from_db()
    assert member.balance + member.pending == 50
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_a_known_member_given_a_card_gets_no_welcome_again(cashier_client, marie, store):
    ActionRuleFactory(event_type="account_created", name="Welcome bonus", points=50)
    cashier_client.post(ISSUE, {"store": "paris", "email": marie.email})
    marie.refresh_from_db()
    assert marie.balance + marie.pending == 0


def test_enrolment_sends_the_welcome_message_at_once(cashier_client, store, scale):
    Journey.objects.filter(kind="welcome").update(active=True)
    cashier_client.post(ISSUE, {"store": "paris", "email": "leo@example.com",
                                "email_marketing": "on"})
    member = Member.objects.get(email="leo@example.com")
    message = Message.objects.get(member=member)
    assert message.kind == "welcome" and message.occasion == f"welcome:{member.pk}"
    # The journey's hourly run finds the same occasion: never sent twice.
    from loyalty.services.messaging import journeys

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        journeys.run_journeys()
    assert Message.objects.filter(member=member).count() == 1


def test_no_welcome_message_while_the_journey_is_off(cashier_client, store, scale):
    Journey.objects.filter(kind="welcome").update(active=False)
    cashier_client.post(ISSUE, {"store": "paris", "email": "off@example.com"})
    assert not Message.objects.exists()


@pytest.mark.postgres
def test_on_postgresql_a_misspelt_name_is_found_by_trigrams_through_the_index(
        cashier_client, store, scale):
    from django.db import connection

    helene = make_member(first_name="Hélène", last_name="Dupont", email="hd@example.com")
    make_member(first_name="Paul", last_name="Durand", email="pd@example.com")
    response = lookup(cashier_client, "Helene Dupond", **HX)  # no accent, one letter off
    assert f'data-member="{helene.pk}"' in response.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension WHERE extname IN "
                       "('unaccent', 'pg_trgm') ORDER BY extname")
        assert [row[0] for row in cursor.fetchall()] == ["pg_trgm", "unaccent"]
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'member_name_trgm'")
        assert "gin_trgm_ops" in cursor.fetchone()[0]
    # The search's own query can use the index: the planner is told to avoid reading
    # every member (a table scan, or a walk of another index), which it rightly prefers
    # for a handful of rows.
    from django.test.utils import CaptureQueriesContext

    from loyalty.staff.lookup import find_by_name

    with CaptureQueriesContext(connection) as captured:
        assert [m.pk for m in find_by_name("helene dupond")] == [helene.pk]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + captured.captured_queries[-1]["sql"])
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "member_name_trgm" in plan, plan


def test_a_till_members_lost_card_leaves_them_a_card_on_their_phone(cashier_client, store,
                                                                    scale):
    from loyalty.services import cards

    cashier_client.post(ISSUE, {"store": "paris", "email": "lost@example.com"})
    member = Member.objects.get(email="lost@example.com")
    plastic = member.cards.get()
    cards.block_member_card(card_id=plastic.pk, member_id=member.pk)
    member.refresh_from_db()
    shown = cards.card_to_show(member)
    assert shown is not None and shown.kind == "digital" and shown.status == "active"
    assert member.card_number == shown.number != plastic.number
