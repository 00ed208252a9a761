"""Receipts customers can claim: codes, their signature and expiry, once only, and the
purchase path they credit through."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from loyalty.models import PointsEntry, Purchase, ReceiptClaim, Refund
from loyalty.services import cards, members
from loyalty.services.claims import (
    SHORT_CODE_ALPHABET,
    claim_purchase,
    find_claim,
    grouped,
    issue_claim,
    receipt_claim,
    token_for,
)
from loyalty.services.errors import (
    ClaimExpired,
    ClaimInvalid,
    ClaimRefunded,
    ClaimUsed,
    OrderConflict,
    PurchaseHasMember,
)
from loyalty.services.purchases import record_purchase, record_refund
from tests.factories import EarningRuleFactory, StoreFactory, make_member, programme

pytestmark = pytest.mark.django_db


def sale(store, amount="42.50", order_id="T-1", **kwargs):
    """A sale recorded without a member, and its receipt's claim."""
    purchase = record_purchase(store=store, order_id=order_id, amount=amount, member=None,
                               **kwargs).obj
    return purchase, issue_claim(purchase=purchase).obj


# --- codes -----------------------------------------------------------------------------------


def test_a_sale_without_a_member_earns_nothing_and_gets_a_claim(store, scale, ledger_is_sound):
    purchase, claim = sale(store)
    assert purchase.member_id is None and purchase.points_earned == 0
    assert purchase.entry_id is None
    assert claim.purchase == purchase
    assert claim.expires_at == purchase.occurred_at + timedelta(days=30)
    assert len(claim.code) == 12 and set(claim.code) <= set(SHORT_CODE_ALPHABET)
    assert not set(claim.code) & set("0O1ILU")
    assert PointsEntry.objects.count() == 0
    ledger_is_sound()


def test_asking_for_a_claim_again_returns_the_same_one(store, scale):
    purchase, claim = sale(store)
    again = issue_claim(purchase=purchase)
    assert not again.created and again.obj.pk == claim.pk
    assert token_for(again.obj) == token_for(claim)
    assert ReceiptClaim.objects.count() == 1


def test_the_token_and_the_short_code_carry_nothing_about_anybody(store, scale):
    purchase, claim = sale(store)
    token = token_for(claim)
    prefix, purchase_id, expires, signature = token.split(".")
    assert prefix == "RC1" and int(purchase_id, 36) == purchase.pk
    assert int(expires, 36) == int(claim.expires_at.timestamp())
    assert len(signature) == 22
    assert grouped(claim.code).count("-") == 2


def test_both_forms_find_the_claim_however_the_short_code_is_typed(store, scale):
    _purchase, claim = sale(store)
    assert find_claim(token_for(claim)) == claim
    typed = " " + grouped(claim.code).lower().replace("-", " ") + " "
    assert find_claim(typed) == claim
    assert find_claim(claim.code) == claim


def test_codes_are_signed_with_the_store_s_own_secret(store, scale):
    other = StoreFactory(code="lyon")
    assert other.claim_secret != store.claim_secret and len(store.claim_secret) == 64
    _purchase, claim = sale(store)
    token = token_for(claim)
    store.claim_secret = "0" * 64  # a rotated (or guessed) secret no longer matches
    store.save()
    with pytest.raises(ClaimInvalid):
        find_claim(token)
    with pytest.raises(ClaimInvalid):
        find_claim(claim.code)


@pytest.mark.parametrize("garbage", [
    "", "   ", "x", "RC1", "RC1.", "RC1...", "RC1.a.b.c.d", "RC1.zz.zz.zz", "RC1.-1.1.abc",
    "RC1.\u0661.1.abc", "RC1." + "z" * 150 + ".1.abc", "A" * 12, "AAAA-AAAA-AAA0",
    "AAAA-AAAA-AAAI", "ÉÉÉÉÉÉÉÉÉÉÉÉ", "a" * 500, "\x00" * 12, "../../etc/passwd",
])
def test_garbage_codes_are_invalid_never_a_crash(store, scale, member, garbage):
    sale(store)
    with pytest.raises(ClaimInvalid) as caught:
        claim_purchase(code=garbage, member=member)
    assert caught.value.code == "claim_invalid"
    assert Purchase.objects.get().member_id is None


def test_a_forged_signature_or_expiry_is_invalid(store, scale, member):
    _purchase, claim = sale(store)
    prefix, purchase_id, expires, signature = token_for(claim).split(".")
    forged_signature = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    later = cards.base36(int(expires, 36) + 86400 * 365)
    for forged in (f"{prefix}.{purchase_id}.{expires}.{forged_signature}",
                   f"{prefix}.{purchase_id}.{later}.{signature}"):
        with pytest.raises(ClaimInvalid):
            claim_purchase(code=forged, member=member)
    assert ReceiptClaim.objects.get().claimed_by is None


def test_a_short_code_of_another_alphabet_letter_is_not_found(store, scale, member):
    _purchase, claim = sale(store)
    wrong = ("B" if claim.code[0] != "B" else "C") + claim.code[1:]
    with pytest.raises(ClaimInvalid):
        claim_purchase(code=wrong, member=member)


# --- claiming --------------------------------------------------------------------------------


def test_claiming_credits_the_purchase_through_the_purchase_path(store, scale, member,
                                                                   ledger_is_sound):
    purchase, claim = sale(store, amount="42.50")
    recorded = claim_purchase(code=grouped(claim.code), member=member)
    assert recorded.created
    purchase.refresh_from_db()
    assert purchase.member == member and purchase.points_earned == 42
    assert purchase.points_breakdown[0]["points"] == 42
    assert purchase.entry.reference == f"order:{store.code}/T-1"
    member.refresh_from_db()
    assert member.balance == 42 and member.lifetime_earned == 42
    claim.refresh_from_db()
    assert claim.claimed_by == member and claim.claimed_at is not None
    ledger_is_sound()


def test_claiming_twice_by_the_same_member_changes_nothing(store, scale, member):
    _purchase, claim = sale(store)
    claim_purchase(code=claim.code, member=member)
    again = claim_purchase(code=token_for(claim), member=member)
    assert not again.created
    member.refresh_from_db()
    assert member.balance == 42
    assert PointsEntry.objects.filter(member=member).count() == 1


def test_a_code_is_claimed_once_another_member_gets_claim_used(store, scale, member):
    _purchase, claim = sale(store)
    claim_purchase(code=claim.code, member=member)
    other = make_member()
    with pytest.raises(ClaimUsed) as caught:
        claim_purchase(code=claim.code, member=other)
    assert caught.value.code == "claim_used" and caught.value.status == 409
    other.refresh_from_db()
    assert other.balance == 0


def test_a_code_can_be_claimed_within_the_period_and_not_after(store, scale, member):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _purchase, claim = sale(store)
    with (time_machine.travel(start + timedelta(days=30, seconds=1), tick=False),
          pytest.raises(ClaimExpired) as caught):
        claim_purchase(code=claim.code, member=member)
    assert caught.value.code == "claim_expired"
    with time_machine.travel(start + timedelta(days=29, hours=23), tick=False):
        assert claim_purchase(code=claim.code, member=member).created


@override_settings(LOYALTY_RECEIPT_CLAIM_DAYS=3)
def test_the_claim_period_is_a_setting(store, scale, member):
    purchase, claim = sale(store)
    assert claim.expires_at == purchase.occurred_at + timedelta(days=3)
    with time_machine.travel(timezone.now() + timedelta(days=4)), pytest.raises(ClaimExpired):
        claim_purchase(code=claim.code, member=member)


def test_a_sale_older_than_the_period_gets_no_claim(store, scale):
    purchase = record_purchase(store=store, order_id="OLD", amount="10.00", member=None,
                               occurred_at=timezone.now() - timedelta(days=31)).obj
    with pytest.raises(ClaimExpired):
        issue_claim(purchase=purchase)
    assert receipt_claim(purchase=purchase) is None


def test_a_refunded_purchase_cannot_be_claimed(store, scale, member, ledger_is_sound):
    purchase, claim = sale(store)
    refund = record_refund(purchase=purchase, refund_id="R-1", amount="10.00").obj
    assert refund.points_reversed == 0 and refund.entry is None
    with pytest.raises(ClaimRefunded) as caught:
        claim_purchase(code=claim.code, member=member)
    assert caught.value.code == "purchase_refunded"
    purchase.refresh_from_db()
    assert purchase.member_id is None and purchase.refunded_amount == Decimal("10.00")
    member.refresh_from_db()
    assert member.balance == 0
    ledger_is_sound()


def test_a_member_s_purchase_gets_no_claim(store, scale, member):
    purchase = record_purchase(store=store, order_id="M-1", amount="10.00",
                               member=member).obj
    with pytest.raises(PurchaseHasMember) as caught:
        issue_claim(purchase=purchase)
    assert caught.value.code == "purchase_has_member"


def test_a_purchase_given_a_member_otherwise_cannot_be_claimed(store, scale, member):
    purchase, claim = sale(store)
    Purchase.objects.filter(pk=purchase.pk).update(member=make_member())
    with pytest.raises(PurchaseHasMember):
        claim_purchase(code=claim.code, member=member)


def test_points_are_pending_until_the_return_window_from_the_purchase_ends(store, scale,
                                                                           member):
    programme(return_window_days=14)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        purchase, claim = sale(store)
    with time_machine.travel(start + timedelta(days=10), tick=False):
        claim_purchase(code=claim.code, member=member)
        member.refresh_from_db()
        assert (member.balance, member.pending) == (0, 42)
        purchase.refresh_from_db()
        assert purchase.entry.lot.available_at == purchase.occurred_at + timedelta(days=14)


def test_a_claim_after_the_return_window_is_spendable_at_once(store, scale, member):
    programme(return_window_days=7)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _purchase, claim = sale(store)
    with time_machine.travel(start + timedelta(days=8), tick=False):
        claim_purchase(code=claim.code, member=member)
        member.refresh_from_db()
        assert (member.balance, member.pending) == (42, 0)


def test_the_rules_in_force_at_the_time_of_purchase_apply(store, member):
    programme(return_window_days=0, points_validity_days=365)
    start = timezone.now()
    rule = EarningRuleFactory(name="1 point per euro", points_per_unit=1)
    promo = EarningRuleFactory(name="Promo week", points_per_unit=2, stackable=True,
                               starts_at=start - timedelta(days=1),
                               ends_at=start + timedelta(days=1), priority=10)
    with time_machine.travel(start, tick=False):
        _purchase, claim = sale(store, amount="10.00")
    with time_machine.travel(start + timedelta(days=5), tick=False):
        purchase = claim_purchase(code=claim.code, member=member).obj
    assert {line["rule_id"]: line["points"] for line in purchase.points_breakdown} == {
        rule.pk: 10, promo.pk: 20}
    member.refresh_from_db()
    assert member.balance == 30


def test_a_claimed_purchase_is_refunded_like_any_other(store, scale, member, ledger_is_sound):
    purchase, claim = sale(store, amount="40.00")
    claim_purchase(code=claim.code, member=member)
    refund = record_refund(purchase=purchase, refund_id="R-1", amount="20.00").obj
    assert refund.points_reversed == 20
    member.refresh_from_db()
    assert member.balance == 20
    assert Refund.objects.get().entry is not None
    ledger_is_sound()


def test_the_till_retrying_a_claimed_sale_gets_the_same_sale(store, scale, member):
    purchase, claim = sale(store)
    claim_purchase(code=claim.code, member=member)
    again = record_purchase(store=store, order_id="T-1", amount="42.50", member=None)
    assert not again.created and again.obj.pk == purchase.pk
    with pytest.raises(OrderConflict):
        record_purchase(store=store, order_id="T-1", amount="42.60", member=None)


def test_a_member_s_order_retried_without_the_member_is_a_conflict(store, scale, member):
    record_purchase(store=store, order_id="M-1", amount="10.00", member=member)
    with pytest.raises(OrderConflict):
        record_purchase(store=store, order_id="M-1", amount="10.00", member=None)


def test_a_merged_claimer_s_survivor_claiming_again_changes_nothing(store, scale, member):
    _purchase, claim = sale(store)
    duplicate = make_member()
    claim_purchase(code=claim.code, member=duplicate)
    members.merge_members(survivor_id=member.pk, duplicate_id=duplicate.pk, reason="test")
    assert not claim_purchase(code=claim.code, member=member).created


def test_a_sale_without_a_member_sends_nothing_its_claim_sends_points_earned(store, scale,
                                                                             member):
    from loyalty.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

    WebhookEndpoint.objects.create(store=store, url="https://shop.example.com/hooks",
                                   events=list(WebhookEvent.values))
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        purchase, claim = sale(store)
    assert not WebhookDelivery.objects.exists()
    with time_machine.travel(start + timedelta(days=2), tick=False):
        claim_purchase(code=claim.code, member=member)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.event_key) == ("points.earned", f"purchase:{purchase.pk}")
    assert delivery.created_at == start + timedelta(days=2)  # when it earned, not when sold
