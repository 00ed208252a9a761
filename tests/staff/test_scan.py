"""The scan page's lookup and actions, as a cashier of Paris uses them (with and without htmx)."""

import time
from decimal import Decimal

import pytest
from django.urls import reverse

from loyalty.models import Card, Purchase
from loyalty.services import cards, ledger
from loyalty.services.members import merge_members
from loyalty.staff.till import masked_code
from rewards.models import Redemption, Reward, Voucher
from rewards.services import redeem_reward
from tests.factories import make_member
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def lookup(client, code, **extra):
    return client.post(reverse("staff:lookup"), {"store": "paris", "code": code}, **extra)


def found(client, member):
    """The cashier finds the customer first (their card): only then does their panel open."""
    assert lookup(client, member.card_number, **HX).status_code == 200
    return client


def token_for(member, **kwargs):
    return cards.make_token(Card.objects.get(number=member.card_number), **kwargs)


def panel_field(response, name) -> str:
    """The value of a hidden field of the member panel's purchase form."""
    content = response.content.decode()
    marker = f'name="{name}" value="'
    start = content.index(marker) + len(marker)
    return content[start:content.index('"', start)]


def give(member, points):
    ledger.adjust_points(member_id=member.pk, points=points, reason="test")


def reward(**fields) -> Reward:
    defaults = {"name": "10 € voucher", "kind": Reward.Kind.AMOUNT, "value": Decimal("10"),
                "points_cost": 100}
    return Reward.objects.create(**{**defaults, **fields})


# --- finding the customer ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["token", "number", "spaced number", "email", "phone",
                                 "local phone"])
def test_the_customer_is_found_by_any_of_their_identities(cashier_client, marie, how):
    value = {
        "token": lambda: token_for(marie),
        "number": lambda: marie.card_number,
        "spaced number": lambda: f"{marie.card_number[:3]} {marie.card_number[3:]}",
        "email": lambda: " Marie@Example.com ",
        "phone": lambda: "+33 6 12 34 56 78",
        "local phone": lambda: "06 12 34 56 78",
    }[how]()
    response = lookup(cashier_client, value, **HX)
    assert response.status_code == 200
    text = page_text(response)
    assert "Marie Curie" in text and "Balance" in text and "Pending" in text
    assert 'id="member-panel"' in response.content.decode()
    assert 'hx-swap-oob="innerHTML"' in response.content.decode()  # the status line


def test_without_htmx_the_lookup_answers_with_the_whole_page(cashier_client, marie):
    response = lookup(cashier_client, marie.card_number)
    assert response.status_code == 200
    assert "<html" in response.content.decode() and "Marie Curie" in page_text(response)


def test_a_plastic_card_finds_its_member(cashier_client, marie, store):
    plastic = cards.issue_card(member_id=marie.pk, store=store)
    assert "Marie Curie" in page_text(lookup(cashier_client, plastic.number, **HX))


@pytest.mark.parametrize("value, status, words", [
    ("LC1.zz.zz.forged", 400, "This card code is not valid"),
    ("1234567897", 404, "No card, voucher or member matches this"),
    ("nobody@example.com", 404, "No member has this email address"),
    ("not-an-email@", 400, "This email address is not valid"),
    ("+33 7 00 00 00 00", 404, "No card, voucher or member matches this"),
    ("hello", 404, "No card, voucher or member matches this"),
])
def test_what_matches_nobody_is_said_plainly(cashier_client, marie, value, status, words):
    response = lookup(cashier_client, value, **HX)
    assert response.status_code == status
    text = page_text(response)
    assert "Problem:" in text and words in text
    assert "Marie" not in text


def test_an_expired_card_code_asks_for_the_card_again(cashier_client, marie):
    old = token_for(marie, at=time.time() - 2 * cards.TOKEN_STEP_SECONDS)
    response = lookup(cashier_client, old, **HX)
    assert response.status_code == 409
    assert "expired" in page_text(response)


def test_a_blocked_card_is_refused(cashier_client, marie, store):
    plastic = cards.issue_card(member_id=marie.pk, store=store)
    cards.block_card(card_id=plastic.pk)
    response = lookup(cashier_client, plastic.number, **HX)
    assert response.status_code == 409
    assert "blocked" in page_text(response)


def test_a_merged_members_card_finds_the_survivor(cashier_client, marie):
    duplicate = make_member(first_name="Dup", email="dup@example.com")
    merge_members(survivor_id=marie.pk, duplicate_id=duplicate.pk)
    assert "Marie Curie" in page_text(lookup(cashier_client, duplicate.card_number, **HX))


def test_an_empty_lookup_is_a_form_error(cashier_client, marie):
    response = lookup(cashier_client, "", **HX)
    assert response.status_code == 400
    assert "Problem:" in page_text(response)


# --- purchases ------------------------------------------------------------------------------


def test_a_purchase_credits_the_member_and_shows_the_points_earned(cashier_client, marie):
    panel = lookup(cashier_client, marie.card_number, **HX)
    order_id = panel_field(panel, "order_id")
    assert order_id.startswith("till-")
    response = cashier_client.post(reverse("staff:purchase"), {
        "store": "paris", "member": marie.pk, "amount": "49.90", "order_id": order_id,
        "receipt": ""}, **HX)
    assert response.status_code == 200
    text = page_text(response)
    assert "+49 points earned" in text and "recorded" in text
    marie.refresh_from_db()
    assert marie.balance == 49
    purchase = Purchase.objects.get()
    assert purchase.order_id == order_id and purchase.store.code == "paris"
    # A new form, with a new id, for the next sale.
    assert panel_field(response, "order_id") != order_id


def test_a_double_click_credits_once(cashier_client, marie):
    found(cashier_client, marie)
    form = {"store": "paris", "member": marie.pk, "amount": "20.00", "order_id": "till-abc"}
    first = cashier_client.post(reverse("staff:purchase"), form, **HX)
    second = cashier_client.post(reverse("staff:purchase"), form, **HX)
    assert first.status_code == second.status_code == 200
    assert "Nothing was added twice" in page_text(second)
    marie.refresh_from_db()
    assert marie.balance == 20 and Purchase.objects.count() == 1


def test_the_receipt_number_is_the_order_id(cashier_client, marie):
    found(cashier_client, marie)
    form = {"store": "paris", "member": marie.pk, "amount": "10.00", "receipt": " R-1001 "}
    cashier_client.post(reverse("staff:purchase"), {**form, "order_id": "till-1"}, **HX)
    retried = cashier_client.post(reverse("staff:purchase"), {**form, "order_id": "till-2"},
                                  **HX)
    assert Purchase.objects.get().order_id == "R-1001"
    assert "Nothing was added twice" in page_text(retried)
    conflict = cashier_client.post(reverse("staff:purchase"), {
        **form, "amount": "12.00", "order_id": "till-3"}, **HX)
    assert conflict.status_code == 409
    assert "already recorded with another amount" in page_text(conflict)
    marie.refresh_from_db()
    assert marie.balance == 10


@pytest.mark.parametrize("amount", ["", "-5", "0", "abc", "1.234", "1e9"])
def test_a_bad_amount_is_a_message_and_keeps_the_form(cashier_client, marie, amount):
    found(cashier_client, marie)
    response = cashier_client.post(reverse("staff:purchase"), {
        "store": "paris", "member": marie.pk, "amount": amount, "order_id": "till-keep"},
        **HX)
    assert response.status_code == 400
    assert "Problem:" in page_text(response)
    assert panel_field(response, "order_id") == "till-keep"
    assert not Purchase.objects.exists()


def test_a_french_cashier_may_type_a_decimal_comma(cashier_client, marie):
    found(cashier_client, marie)
    response = cashier_client.post(reverse("staff:purchase"), {
        "store": "paris", "member": marie.pk, "amount": "12,50", "order_id": "till-fr"},
        HTTP_ACCEPT_LANGUAGE="fr", **HX)
    assert response.status_code == 200
    assert Purchase.objects.get().amount == Decimal("12.50")


def test_a_purchase_for_an_unknown_member_is_refused(cashier_client, marie):
    found(cashier_client, marie)
    response = cashier_client.post(reverse("staff:purchase"), {
        "store": "paris", "member": 999999, "amount": "5", "order_id": "till-u"}, **HX)
    assert response.status_code == 403
    assert not Purchase.objects.exists()


# --- rewards and vouchers ---------------------------------------------------------------------


def test_rewards_within_reach_can_be_redeemed_at_the_till(cashier_client, marie, store):
    cheap, dear = reward(name="Tote bag", points_cost=100), reward(name="Trip", points_cost=900)
    give(marie, 150)
    panel = page_text(lookup(cashier_client, marie.card_number, **HX))
    assert "Tote bag" in panel and "1 reward out of reach" in panel
    assert "750 more points needed" in panel
    response = cashier_client.post(reverse("staff:redeem-reward"), {
        "store": "paris", "member": marie.pk, "reward": cheap.pk, "redemption_id": "till-r1",
        "confirm": "1"},
        **HX)
    assert response.status_code == 200
    voucher = Voucher.objects.get()
    assert masked_code(voucher) in page_text(response)
    assert voucher.formatted_code not in page_text(response)
    assert Redemption.objects.get().store == store
    marie.refresh_from_db()
    assert marie.balance == 50
    refused = cashier_client.post(reverse("staff:redeem-reward"), {
        "store": "paris", "member": marie.pk, "reward": dear.pk, "redemption_id": "till-r2",
        "confirm": "1"},
        **HX)
    assert refused.status_code == 409
    assert "Not enough points" in page_text(refused)


def test_a_voucher_is_found_by_its_code_and_used_once(cashier_client, marie, store):
    give(marie, 100)
    voucher = redeem_reward(member=marie, reward_id=reward().pk,
                            redemption_id="portal-1").obj.voucher
    found = lookup(cashier_client, voucher.formatted_code.lower(), **HX)
    assert found.status_code == 200
    assert "is ready to use" in page_text(found) and "Marie Curie" in page_text(found)
    form = {"store": "paris", "member": marie.pk, "voucher": voucher.pk, "order_id": "till-v",
            "confirm": "1"}
    used = cashier_client.post(reverse("staff:redeem-voucher"), form, **HX)
    assert used.status_code == 200 and "used" in page_text(used)
    assert cashier_client.post(reverse("staff:redeem-voucher"), form, **HX).status_code == 200
    again = cashier_client.post(reverse("staff:redeem-voucher"),
                                {**form, "order_id": "till-other"}, **HX)
    assert again.status_code == 409 and "already been used" in page_text(again)
    rescanned = lookup(cashier_client, voucher.code, **HX)
    assert "already been used" in page_text(rescanned)
    voucher.refresh_from_db()
    assert voucher.status == "used" and voucher.used_store == store


def test_a_voucher_of_another_member_cannot_be_used_from_this_panel(cashier_client, marie):
    other = make_member(first_name="Oscar", email="oscar@example.com")
    give(other, 100)
    voucher = redeem_reward(member=other, reward_id=reward().pk, redemption_id="p-2").obj.voucher
    found(cashier_client, marie)
    response = cashier_client.post(reverse("staff:redeem-voucher"), {
        "store": "paris", "member": marie.pk, "voucher": voucher.pk, "order_id": "till-z"},
        **HX)
    assert response.status_code == 404
    voucher.refresh_from_db()
    assert voucher.status == "issued"


# --- cards ----------------------------------------------------------------------------------


def test_a_lost_card_is_blocked_from_the_panel(cashier_client, marie, store):
    plastic = cards.issue_card(member_id=marie.pk, store=store)
    panel = lookup(cashier_client, plastic.number, **HX)
    assert "Block (lost)" in page_text(panel)
    response = cashier_client.post(reverse("staff:block-card"), {
        "store": "paris", "member": marie.pk, "card": plastic.pk}, **HX)
    assert response.status_code == 200 and "is blocked" in page_text(response)
    plastic.refresh_from_db()
    assert plastic.status == Card.Status.BLOCKED
    # Only a card of the member shown.
    other = make_member(email="o@example.com")
    theirs = cards.issue_card(member_id=other.pk)
    refused = cashier_client.post(reverse("staff:block-card"), {
        "store": "paris", "member": marie.pk, "card": theirs.pk}, **HX)
    assert refused.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Card.Status.ACTIVE


def test_a_plastic_card_is_linked_from_the_panel(cashier_client, marie, store):
    body = "555000111"
    number = body + cards.luhn_digit(body)
    found(cashier_client, marie)
    response = cashier_client.post(reverse("staff:link-card"), {
        "store": "paris", "member": marie.pk, "number": number}, **HX)
    assert response.status_code == 200 and "now linked" in page_text(response)
    card = Card.objects.get(number=number)
    assert card.member == marie and card.kind == "physical" and card.issued_by_store == store
    again = cashier_client.post(reverse("staff:link-card"), {
        "store": "paris", "member": marie.pk, "number": number}, **HX)
    assert again.status_code == 400 and "already linked" in page_text(again)
    typo = cashier_client.post(reverse("staff:link-card"), {
        "store": "paris", "member": marie.pk, "number": number[:-1] + "0"
        if number[-1] != "0" else number[:-1] + "1"}, **HX)
    assert typo.status_code == 400 and "mistyped" in page_text(typo)


def test_the_member_panel_opens_from_a_link_once_found_in_this_session(cashier_client,
                                                                       marie):
    found(cashier_client, marie)
    response = cashier_client.get(reverse("staff:scan"), {"member": marie.pk})
    assert "Marie Curie" in page_text(response)
    assert "Record the purchase" in page_text(response)


def test_unicode_digits_in_a_member_field_are_refused_not_a_crash(cashier_client, marie):
    found(cashier_client, marie)
    page = cashier_client.get(reverse("staff:scan"), {"member": "\u00b2"})
    assert page.status_code == 200 and "Marie Curie" not in page_text(page)
    sale = cashier_client.post(reverse("staff:purchase"), {
        "store": "paris", "member": "\u00b2", "amount": "10", "order_id": "X1"})
    assert sale.status_code in (400, 403)


def test_the_panel_takes_the_same_queries_however_many_vouchers_and_rewards(cashier_client,
                                                                           marie):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    give(marie, 5000)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert lookup(cashier_client, marie.card_number, **HX).status_code == 200
        return len(captured)

    redeem_reward(member=marie, reward_id=reward().pk, redemption_id="q-0")
    few = queries()
    for index in range(1, 6):
        redeem_reward(member=marie, reward_id=reward(name=f"R{index}").pk,
                      redemption_id=f"q-{index}")
    assert queries() == few <= 20


# --- a member's panel opens only for a customer found at this till ---------------------------


def test_a_member_id_alone_opens_no_panel(cashier_client, marie):
    response = cashier_client.get(reverse("staff:scan"), {"store": "paris",
                                                          "member": marie.pk})
    assert response.status_code == 200
    text = page_text(response)
    assert "Marie" not in text and marie.card_number not in text
    assert "Find the customer first" in text


@pytest.mark.parametrize(("url", "fields"), [
    ("staff:purchase", {"amount": "10", "order_id": "till-x"}),
    ("staff:purchase", {"amount": "bad", "order_id": "till-x"}),  # the form error's panel
    ("staff:redeem-reward", {"reward": 1, "redemption_id": "till-x"}),
    ("staff:redeem-voucher", {"voucher": 1, "order_id": "till-x"}),
    ("staff:block-card", {"card": 1}),
    ("staff:link-card", {"number": "5550001118"}),
])
def test_no_action_reaches_a_member_not_found_in_this_session(cashier_client, marie, url,
                                                              fields):
    give(marie, 100)
    response = cashier_client.post(reverse(url), {"store": "paris", "member": marie.pk,
                                                  **fields}, **HX)
    assert response.status_code == 403
    assert "Marie" not in page_text(response) and "Find the customer first" in page_text(
        response)
    assert not Purchase.objects.exists() and not Redemption.objects.exists()


def test_another_cashiers_lookup_opens_nothing_here(client, cashier, marie, store):
    from tests.factories import StaffRoleFactory, UserFactory

    client.force_login(cashier)
    found(client, marie)
    other = StaffRoleFactory(user=UserFactory(email="other.cashier@example.com"),
                             store=store, role="cashier").user
    client.force_login(other)  # a new session
    response = client.get(reverse("staff:scan"), {"store": "paris", "member": marie.pk})
    assert "Marie" not in page_text(response)


def test_the_panel_opens_for_a_while_then_needs_the_card_again(cashier_client, marie):
    import time_machine

    found(cashier_client, marie)
    with time_machine.travel(time.time() + 31 * 60):
        response = cashier_client.get(reverse("staff:scan"), {"member": marie.pk})
    assert "Marie" not in page_text(response)


def test_voucher_codes_are_masked_until_used(cashier_client, marie):
    give(marie, 100)
    voucher = redeem_reward(member=marie, reward_id=reward().pk,
                            redemption_id="portal-m").obj.voucher
    panel = lookup(cashier_client, marie.card_number, **HX).content.decode()
    assert voucher.code not in panel and voucher.formatted_code not in panel
    assert voucher.code[:4] not in panel
    # The last symbols, to match the customer's: ••••-••GH-IJ.
    assert masked_code(voucher) in panel and masked_code(voucher).endswith(
        voucher.formatted_code[-4:])
    used = cashier_client.post(reverse("staff:redeem-voucher"), {
        "store": "paris", "member": marie.pk, "voucher": voucher.pk, "order_id": "till-m",
        "confirm": "1"},
        **HX)
    assert used.status_code == 200
    assert f"Voucher {voucher.formatted_code} used" in page_text(used)
