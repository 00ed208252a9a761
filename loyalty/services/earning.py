"""Evaluate what a purchase earns under the points scale. Pure: reads, never writes.

Points are computed on what the customer paid: when line items add up to more
than the amount (a voucher, a discount), every line is scaled down in
proportion; what the amount holds beyond the lines (shipping, a service) is
one more line with no SKU or category.

Per line, spend rules apply by priority; a rule that does not stack stops the
rules below it. Multipliers add (factor − 1) × the line's base points, the
same way, and the member's tier adds (multiplier − 1) × all base points.
Bonuses add up rather than compound, so a member can follow the arithmetic.
Each line of the breakdown is rounded down once, at the end; caps come last.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import EarningRule, Multiplier, Programme, Purchase, PurchaseBonus, Tier
from loyalty.services import bonuses, settings_cache

ZERO = Decimal("0")


@dataclass(frozen=True)
class Line:
    sku: str
    category: str
    amount: Decimal


@dataclass
class Scale:
    """A snapshot of the points scale, loaded once for an evaluation."""

    programme: Programme
    rules: list[EarningRule]
    multipliers: list[Multiplier]
    # Whether a personal next-purchase bonus may exist (see loyalty.services.bonuses): when
    # not, a purchase does not look for one.
    bonuses: bool = False


@dataclass
class Evaluation:
    points: int
    breakdown: list[dict] = field(default_factory=list)


def load_scale() -> Scale:
    """The active scale, from the configuration cache (see settings_cache)."""
    return settings_cache.cached(settings_cache.SCALE, lambda: Scale(
        programme=Programme.load(),
        rules=list(EarningRule.objects.filter(active=True).order_by("-priority", "id")),
        multipliers=list(Multiplier.objects.filter(active=True).order_by("-priority", "id")),
        bonuses=bonuses.any_possible(),
    ))


def current_programme() -> Programme:
    return load_scale().programme


def all_tiers() -> list[Tier]:
    """The tiers, from the configuration cache (dropped whenever one is saved)."""
    return settings_cache.cached(settings_cache.TIERS, lambda: list(Tier.objects.all()))


def lines_for(*, amount: Decimal, items) -> list[Line]:
    """Split the amount paid over the items; see the module's docstring."""
    if not items:
        return [Line(sku="", category="", amount=amount)]
    totals = [Decimal(item["unit_price"]) * item["quantity"] for item in items]
    items_total = sum(totals, ZERO)
    scale = amount / items_total if items_total > amount else Decimal(1)
    lines = [Line(sku=item["sku"], category=item.get("category") or "", amount=total * scale)
             for item, total in zip(items, totals, strict=True)]
    if amount > items_total:
        lines.append(Line(sku="", category="", amount=amount - items_total))
    return lines


def campaign_offers_for(*, scale: Scale, member) -> frozenset[int]:
    """The campaigns with an offer in the scale whose sent group the member is in: no query
    unless a campaign's multiplier is active."""
    offered = {m.campaign_id for m in scale.multipliers if m.campaign_id is not None}
    if not offered:
        return frozenset()
    from loyalty.models import CampaignMember

    return frozenset(CampaignMember.objects.filter(
        member=member, campaign_id__in=offered, group=CampaignMember.Group.SENT)
        .values_list("campaign_id", flat=True))


def earned_today(*, member, occurred_at: datetime) -> int:
    day = timezone.localtime(occurred_at).replace(hour=0, minute=0, second=0, microsecond=0)
    total = (Purchase.objects.filter(member=member, occurred_at__gte=day,
                                     occurred_at__lt=day + timedelta(days=1))
             .aggregate(total=Sum("points_earned"))["total"])
    return total or 0


def evaluate_purchase(*, scale: Scale, store, occurred_at: datetime, amount: Decimal,
                      items=(), tier=None, earned_today: int = 0,
                      campaign_ids: frozenset[int] = frozenset(),
                      personal_bonus: PurchaseBonus | None = None) -> Evaluation:
    """`campaign_ids`: the campaigns whose sent group the member is in (their offers'
    multipliers apply to them alone, see `campaign_offers_for`). `personal_bonus`: the member's
    personal next-purchase bonus, applied like a multiplier on all base points (factor)
    plus its extra points, as one `bonus` line before the caps."""
    lines = lines_for(amount=amount, items=items)
    rules = [rule for rule in scale.rules
             if rule.matches_purchase(store=store, occurred_at=occurred_at)
             and (rule.min_basket is None or amount >= rule.min_basket)]

    # Base points, per rule and per line.
    per_rule: OrderedDict[EarningRule, Decimal] = OrderedDict()
    line_rules: list[list[tuple[EarningRule, Decimal]]] = []
    for line in lines:
        applied = []
        for rule in rules:
            if not rule.matches_line(line):
                continue
            points = line.amount * rule.points_per_unit
            applied.append((rule, points))
            per_rule[rule] = per_rule.get(rule, ZERO) + points
            if not rule.stackable:
                break
        line_rules.append(applied)

    # A rule's own cap scales its contribution to every line down alike.
    ratio = {}
    for rule, points in per_rule.items():
        ratio[rule] = Decimal(1)
        if rule.max_points is not None and points > rule.max_points:
            ratio[rule] = Decimal(rule.max_points) / points
            per_rule[rule] = Decimal(rule.max_points)
    line_base = [sum((points * ratio[rule] for rule, points in applied), ZERO)
                 for applied in line_rules]
    breakdown = [{"rule": rule.name, "points": math.floor(points), "source": "rule",
                  "rule_id": rule.pk} for rule, points in per_rule.items()]

    multipliers = [m for m in scale.multipliers
                   if m.matches_purchase(store=store, occurred_at=occurred_at)
                   and (m.tier_id is None or (tier is not None and m.tier_id == tier.pk))
                   and (m.campaign_id is None or m.campaign_id in campaign_ids)]
    bonus: OrderedDict[Multiplier, Decimal] = OrderedDict()
    for line, base in zip(lines, line_base, strict=True):
        if base <= 0:
            continue
        for multiplier in multipliers:
            if not multiplier.matches_line(line):
                continue
            bonus[multiplier] = bonus.get(multiplier, ZERO) + base * (multiplier.factor - 1)
            if not multiplier.stackable:
                break
    # Each line keeps what applied (source, id, factor): loyalty/services/history.py names
    # it in the reader's language; "rule" is the label as evaluated, for the record.
    breakdown += [{"rule": f"{m.name} ×{m.factor.normalize():f}", "points": math.floor(points),
                   "source": "multiplier", "rule_id": m.pk,
                   "factor": f"{m.factor.normalize():f}"} for m, points in bonus.items()]
    if tier is not None and tier.earn_multiplier > 1:
        tier_bonus = sum(line_base, ZERO) * (tier.earn_multiplier - 1)
        breakdown.append({"rule": _("%(tier)s tier ×%(factor)s") % {
            "tier": tier.name, "factor": f"{tier.earn_multiplier.normalize():f}"},
            "points": math.floor(tier_bonus), "source": "tier", "rule_id": tier.pk,
            "factor": f"{tier.earn_multiplier.normalize():f}"})

    if personal_bonus is not None:
        breakdown.append(bonus_line(personal_bonus, base=sum(line_base, ZERO)))

    breakdown = [line for line in breakdown if line["points"] > 0]
    total = sum(line["points"] for line in breakdown)

    programme = scale.programme
    if programme.max_points_per_purchase is not None and total > programme.max_points_per_purchase:
        breakdown.append({"rule": _("Cap per purchase"), "source": "cap", "rule_id": None,
                          "cap": "purchase",
                          "points": programme.max_points_per_purchase - total})
        total = programme.max_points_per_purchase
    if programme.max_points_per_day is not None:
        room = max(programme.max_points_per_day - earned_today, 0)
        if total > room:
            breakdown.append({"rule": _("Cap per day"), "source": "cap", "rule_id": None,
                              "cap": "day",
                              "points": room - total})
            total = room
    return Evaluation(points=total, breakdown=breakdown)


def bonus_line(bonus: PurchaseBonus, *, base: Decimal) -> dict:
    """The rule trail's line for a next-purchase bonus: (factor − 1) × the base points,
    plus its extra points."""
    points = math.floor(base * (bonus.factor - 1)) if bonus.factor else 0
    points += bonus.points
    parts = []
    if bonus.factor:
        parts.append(f"×{bonus.factor.normalize():f}")
    if bonus.points:
        parts.append(f"+{bonus.points}")
    line = {"rule": _("Next-purchase bonus %(bonus)s") % {"bonus": " ".join(parts)},
            "points": points, "source": "bonus", "rule_id": bonus.pk}
    # Its terms as numbers too, so the history can say it in the reader's language.
    if bonus.factor:
        line["factor"] = f"{bonus.factor.normalize():f}"
    if bonus.points:
        line["extra"] = bonus.points
    return line
