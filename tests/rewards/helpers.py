"""Shared steps of the rewards tests: a reward, points to spend, an issued voucher."""

from decimal import Decimal

from loyalty.services import ledger
from rewards.models import Reward, Voucher
from rewards.services import redeem_reward


def reward(**fields) -> Reward:
    defaults = {"name": "10 € voucher", "kind": Reward.Kind.AMOUNT, "value": Decimal("10"),
                "points_cost": 100}
    return Reward.objects.create(**{**defaults, **fields})


def give(member, points):
    ledger.adjust_points(member_id=member.pk, points=points, reason="test")


def issue(member, item=None, rid=None) -> Voucher:
    item = item or reward()
    give(member, item.points_cost)
    rid = rid or f"R{Voucher.objects.count() + 1}"
    return redeem_reward(member=member, reward_id=item.pk, redemption_id=rid).obj.voucher
