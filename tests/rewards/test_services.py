from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import Member, PointsEntry
from loyalty.services.errors import (
    InsufficientPoints,
    MemberLimitReached,
    NotFound,
    OutOfStock,
    RedemptionConflict,
    RewardUnavailable,
    TierRequired,
    VoucherCancelled,
    VoucherCodeInvalid,
    VoucherExpired,
    VoucherNotValidHere,
    VoucherUsed,
)
from loyalty.services.purchases import record_purchase, record_refund
from rewards import codes
from rewards.models import Reward, Voucher
from rewards.services import (
    cancel_voucher,
    catalogue_for,
    eligibility,
    expire_vouchers,
    redeem_reward,
    redeem_voucher,
    validate_voucher,
)
from tests.factories import StoreFactory, TierFactory, make_member
from tests.rewards.helpers import give

pytestmark = pytest.mark.django_db


def reward(**fields):
    defaults = {"name": "10 € voucher", "kind": Reward.Kind.AMOUNT, "value": Decimal("10"),
                "points_cost": 100}
    return Reward.objects.create(**{**defaults, **fields})


def redeem(member, rwd, rid="R1", **kwargs):
    return redeem_reward(member=member, reward_id=rwd.pk, redemption_id=rid, **kwargs)


def test_redeeming_debits_the_ledger_and_issues_a_voucher(member, ledger_is_sound):
    give(member, 250)
    item = reward(stock=5)
    recorded = redeem(member, item)
    redemption = recorded.obj
    assert recorded.created
    assert (redemption.points_spent, redemption.balance_after) == (100, 150)
    assert redemption.entry.kind == PointsEntry.Kind.REDEEM
    voucher = redemption.voucher
    assert codes.is_well_formed(voucher.code)
    assert (voucher.kind, voucher.value, voucher.status) == ("amount_voucher", Decimal("10"),
                                                             "issued")
    item.refresh_from_db()
    assert item.stock == 4
    ledger_is_sound()


def test_the_same_redemption_id_changes_nothing_and_another_reward_conflicts(member):
    give(member, 500)
    item, other = reward(), reward(name="Other")
    first = redeem(member, item)
    again = redeem(member, item)
    assert not again.created and again.obj.pk == first.obj.pk
    member.refresh_from_db()
    assert member.balance == 400
    with pytest.raises(RedemptionConflict):
        redeem(member, other)


def test_eligibility_is_checked_in_a_stable_order(member):
    gold = TierFactory(code="gold", rank=5, threshold=10**6)
    past = timezone.now() - timedelta(days=1)
    # Everything wrong at once: the first reason wins.
    item = reward(available_until=past, tier_required=gold, stock=0, points_cost=10**6)
    with pytest.raises(RewardUnavailable):
        redeem(member, item)
    item.available_until = None
    item.save()
    with pytest.raises(TierRequired):
        redeem(member, item)
    Member.objects.filter(pk=member.pk).update(tier=gold)
    member.refresh_from_db()
    with pytest.raises(OutOfStock):
        redeem(member, item)
    item.stock = 3
    item.save()
    with pytest.raises(InsufficientPoints):
        redeem(member, item)
    assert not Voucher.objects.exists()


def test_a_limit_per_member_and_period(member):
    give(member, 1000)
    item = reward(limit_count=2, limit_period="month")
    redeem(member, item, "a")
    redeem(member, item, "b")
    with pytest.raises(MemberLimitReached):
        redeem(member, item, "c")
    assert eligibility(member=member, reward=item) == "member_limit_reached"


def test_a_balance_below_zero_after_a_refund_blocks_redemption(store, scale, member):
    purchase = record_purchase(store=store, order_id="1", amount="100.00", member=member).obj
    item = reward(points_cost=100)
    redeem(member, item)
    record_refund(purchase=purchase, refund_id="R", amount="100.00")
    member.refresh_from_db()
    assert member.balance == -100
    with pytest.raises(InsufficientPoints):
        redeem(member, reward(points_cost=1), "R2")


def test_a_reward_limited_to_some_stores_is_refused_elsewhere(member):
    paris, web = StoreFactory(code="paris"), StoreFactory(code="web", kind="online")
    give(member, 500)
    item = reward()
    item.stores.set([web])
    with pytest.raises(RewardUnavailable):
        redeem(member, item, store=paris)
    assert redeem(member, item, store=web).created


def test_unknown_reward_is_not_found(member):
    with pytest.raises(NotFound):
        redeem_reward(member=member, reward_id=999, redemption_id="x")


def test_voucher_codes_tell_a_typo_from_an_unknown_code(member):
    give(member, 100)
    voucher = redeem(member, reward()).obj.voucher
    assert validate_voucher(code=voucher.formatted_code.lower())[0] == voucher
    typo = voucher.code[:3] + ("A" if voucher.code[3] != "A" else "B") + voucher.code[4:]
    with pytest.raises(VoucherCodeInvalid):
        validate_voucher(code=typo)
    swapped = voucher.code[1] + voucher.code[0] + voucher.code[2:]
    if swapped != voucher.code:
        with pytest.raises((VoucherCodeInvalid, NotFound)):
            validate_voucher(code=swapped)
    unknown = codes.new_code()
    with pytest.raises(NotFound):
        validate_voucher(code=unknown)
    for garbage in ("", "0000-0000-00", "x" * 100, None):
        with pytest.raises(VoucherCodeInvalid):
            validate_voucher(code=garbage)


def test_every_single_character_typo_is_caught():
    code = codes.new_code()
    for position in range(len(code)):
        for char in codes.ALPHABET:
            if char != code[position]:
                assert not codes.is_well_formed(code[:position] + char + code[position + 1:])


def test_codes_carry_at_least_40_bits_and_no_look_alikes():
    import math

    assert codes.RANDOM_LENGTH * math.log2(len(codes.ALPHABET)) >= 40
    assert not set("01OILU") & set(codes.ALPHABET)
    assert len({codes.new_code() for _ in range(2000)}) == 2000


@pytest.mark.parametrize("kind, value, amount, expected", [
    ("percent_voucher", "15", "80.00", "12.00"),
    ("percent_voucher", "15", "0.10", "0.02"),
    ("amount_voucher", "10", "80.00", "10.00"),
    ("amount_voucher", "10", "6.50", "6.50"),
    ("free_shipping", "0", "80.00", "0.00"),
    ("gift", "0", "80.00", "0.00"),
])
def test_validate_returns_the_discount_for_an_order(member, kind, value, amount, expected):
    give(member, 100)
    voucher = redeem(member, reward(kind=kind, value=Decimal(value))).obj.voucher
    assert validate_voucher(code=voucher.code, order_amount=amount)[1] == Decimal(expected)


def test_a_voucher_is_used_once_per_order(member):
    store = StoreFactory(code="web", kind="online")
    give(member, 100)
    voucher = redeem(member, reward()).obj.voucher
    assert redeem_voucher(code=voucher.code, order_id="W1", store=store).created
    again = redeem_voucher(code=voucher.code, order_id="W1", store=store)
    assert not again.created and again.obj.status == "used"
    with pytest.raises(VoucherUsed):
        redeem_voucher(code=voucher.code, order_id="W2", store=store)
    with pytest.raises(VoucherUsed):
        validate_voucher(code=voucher.code)


def test_a_voucher_for_some_stores_is_refused_elsewhere(member):
    paris, web = StoreFactory(code="paris"), StoreFactory(code="web", kind="online")
    give(member, 100)
    item = reward()
    item.stores.set([paris])
    voucher = redeem(member, item).obj.voucher
    with pytest.raises(VoucherNotValidHere):
        redeem_voucher(code=voucher.code, order_id="W1", store=web)


def test_vouchers_expire_and_cannot_be_used_after(member):
    store = StoreFactory(code="paris")
    give(member, 100)
    voucher = redeem(member, reward(voucher_validity_days=10)).obj.voucher
    later = timezone.now() + timedelta(days=11)
    with pytest.raises(VoucherExpired):
        redeem_voucher(code=voucher.code, order_id="1", store=store, now=later)
    assert expire_vouchers(now=later) == 1
    assert expire_vouchers(now=later) == 0
    voucher.refresh_from_db()
    assert voucher.status == "expired"


def test_cancelling_an_unused_voucher_returns_points_and_stock(member, ledger_is_sound):
    give(member, 100)
    item = reward(stock=1)
    voucher = redeem(member, item).obj.voucher
    cancelled = cancel_voucher(voucher_id=voucher.pk, member_id=member.pk)
    assert cancelled.status == "cancelled"
    assert cancel_voucher(voucher_id=voucher.pk).status == "cancelled"  # idempotent
    member.refresh_from_db()
    item.refresh_from_db()
    assert (member.balance, item.stock) == (100, 1)
    assert PointsEntry.objects.filter(member=member, kind="cancel").count() == 1
    with pytest.raises(VoucherCancelled):
        validate_voucher(code=voucher.code)
    ledger_is_sound()


def test_a_member_cannot_cancel_someone_elses_voucher_nor_a_used_one(member):
    store = StoreFactory(code="paris")
    give(member, 200)
    voucher = redeem(member, reward()).obj.voucher
    with pytest.raises(NotFound):
        cancel_voucher(voucher_id=voucher.pk, member_id=make_member().pk)
    redeem_voucher(code=voucher.code, order_id="1", store=store)
    with pytest.raises(VoucherUsed):
        cancel_voucher(voucher_id=voucher.pk, member_id=member.pk)


def test_the_catalogue_says_what_a_member_can_have(member):
    give(member, 150)
    cheap, dear = reward(points_cost=100), reward(name="Dear", points_cost=500)
    gone = reward(name="Gone", available_until=timezone.now() - timedelta(days=1))
    member.refresh_from_db()
    listing = dict(catalogue_for(member=member))
    assert listing[cheap] is None
    assert listing[dear] == "insufficient_points"
    assert gone not in listing
    assert all(reason is None for _r, reason in catalogue_for(member=None))


def test_redeeming_sends_voucher_issued_to_the_stores_endpoint(member):
    from loyalty.models import WebhookDelivery, WebhookEndpoint

    web = StoreFactory(code="web", kind="online")
    endpoint = WebhookEndpoint.objects.create(store=web, url="https://shop.example.com/h",
                                              events=["voucher.issued"])
    give(member, 100)
    item = reward()
    redemption = redeem(member, item, store=web).obj
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event == "voucher.issued"
    assert delivery.event_key == f"voucher:{redemption.voucher.pk}"
    redeem(member, item, store=web)  # a replay sends nothing more
    assert WebhookDelivery.objects.count() == 1
