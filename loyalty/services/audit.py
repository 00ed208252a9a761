"""Verify every invariant of the points ledger. Reads only; set-based, so it scales.

Used by `manage.py check_ledger` and by the tests after every step.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import F, Q, Sum, Window
from django.db.models.functions import Coalesce

from loyalty.models import Member, PointsEntry, PointsLot, Purchase, Refund


@dataclass
class LedgerReport:
    members: int = 0
    entries: int = 0
    lots: int = 0
    outstanding_points: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def audit_ledger(*, limit: int = 100) -> LedgerReport:
    report = LedgerReport(members=Member.objects.count(), entries=PointsEntry.objects.count(),
                          lots=PointsLot.objects.count())
    found = report.violations

    def add(message):
        if len(found) < limit:
            found.append(message)

    # 1. The member row equals the sum of its entries (balance + pending, lifetime earned).
    totals = (Member.objects.annotate(
        entries_total=Coalesce(Sum("entries__points"), 0),
        entries_lifetime=Coalesce(Sum("entries__lifetime_delta"), 0))
        .filter(~Q(entries_total=F("balance") + F("pending"))
                | ~Q(entries_lifetime=F("lifetime_earned")))
        .values_list("pk", "balance", "pending", "lifetime_earned", "entries_total",
                     "entries_lifetime"))
    for pk, balance, pending, lifetime, total, life in totals:
        add(f"member {pk}: balance {balance} + pending {pending} != entries {total}"
            if total != balance + pending else
            f"member {pk}: lifetime earned {lifetime} != entries {life}")

    # 2. Each entry's running total follows from the one before.
    running = (PointsEntry.objects.annotate(
        running=Window(Sum("points"), partition_by=[F("member_id")], order_by=F("id").asc()))
        .filter(~Q(running=F("balance_after"))).values_list("pk", "member_id", "running",
                                                           "balance_after"))
    for pk, member_id, run, after in running[:limit]:
        add(f"entry {pk} (member {member_id}): balance_after {after}, running total {run}")

    # 3. Lots add up, and never go below zero.
    bad_lots = PointsLot.objects.filter(
        ~Q(points=F("remaining") + F("spent") + F("expired") + F("reversed"))
        | Q(clawed_back__gt=F("spent")) | Q(remaining__lt=0) | Q(points__lte=0))
    for pk in bad_lots.values_list("pk", flat=True)[:limit]:
        add(f"lot {pk}: parts do not add up")

    # 4. Lots hold the member's pending points and spendable balance.
    lot_sums = defaultdict(lambda: [0, 0])
    for member_id, released, remaining in (PointsLot.objects.filter(remaining__gt=0)
                                           .values("member_id", "released")
                                           .annotate(total=Sum("remaining"))
                                           .values_list("member_id", "released", "total")):
        lot_sums[member_id][1 if released else 0] = remaining
    with_refunds = set(PointsEntry.objects.filter(kind__in=["refund", "merge"])
                       .values_list("member_id", flat=True).distinct())
    for pk, balance, pending, status in Member.objects.values_list(
            "pk", "balance", "pending", "status").iterator(chunk_size=5000):
        report.outstanding_points += balance + pending
        pending_lots, spendable_lots = lot_sums.get(pk, (0, 0))
        if pending != pending_lots:
            add(f"member {pk}: pending {pending} != pending lots {pending_lots}")
        if spendable_lots != max(balance, 0):
            add(f"member {pk}: balance {balance} != spendable lots {spendable_lots}")
        if balance < 0 and pk not in with_refunds:
            add(f"member {pk}: balance below zero without a refund")
        if status != Member.Status.ACTIVE and (balance or pending or pk in lot_sums):
            add(f"member {pk}: closed but still holds points")

    # 5. Purchases and refunds agree with what they credited and took back.
    for pk in (Purchase.objects.filter(
            Q(entry__isnull=False) & ~Q(entry__points=F("points_earned"))
            | Q(entry__isnull=True) & ~Q(points_earned=0)
            | Q(refunded_amount__gt=F("amount"))
            | Q(points_reversed__gt=F("points_earned"))).values_list("pk", flat=True)[:limit]):
        add(f"purchase {pk}: points or refunds inconsistent")
    refunded = dict(Refund.objects.values("purchase_id").annotate(total=Sum("amount"))
                    .values_list("purchase_id", "total"))
    for pk, amount in Purchase.objects.filter(refunded_amount__gt=0).values_list(
            "pk", "refunded_amount"):
        if refunded.get(pk) != amount:
            add(f"purchase {pk}: refunded {amount} != refunds {refunded.get(pk)}")
    return report
