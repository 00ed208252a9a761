"""Verify every invariant of the points ledger. Reads only; set-based, so it scales.

Used by `manage.py check_ledger` and by the tests after every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import (
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Window,
)
from django.db.models.functions import Coalesce

from loyalty.models import Member, PointsEntry, PointsLot, Purchase, Refund

# Each member's lot sums against its balance and pending points (rule 4), in portable SQL
# (PostgreSQL and SQLite): a negative balance needs a refund or a merge in the entries,
# and a member who is not active holds nothing.
_LOT_SUMS = """
SELECT * FROM (
    SELECT m.id, m.balance, m.pending, m.status,
           COALESCE(l.pending_lots, 0) AS pending_lots,
           COALESCE(l.spendable_lots, 0) AS spendable_lots,
           CASE WHEN l.member_id IS NULL THEN 0 ELSE 1 END AS has_lots,
           CASE WHEN m.balance < 0 AND NOT EXISTS (
                    SELECT 1 FROM {entry} e
                    WHERE e.member_id = m.id AND e.kind IN ('refund', 'merge'))
                THEN 1 ELSE 0 END AS unexplained_debt
    FROM {member} m
    LEFT JOIN (SELECT member_id,
                      SUM(CASE WHEN released THEN 0 ELSE remaining END) AS pending_lots,
                      SUM(CASE WHEN released THEN remaining ELSE 0 END) AS spendable_lots
               FROM {lot} WHERE remaining > 0 GROUP BY member_id) l ON l.member_id = m.id
) checked
WHERE pending <> pending_lots
   OR spendable_lots <> CASE WHEN balance > 0 THEN balance ELSE 0 END
   OR unexplained_debt = 1
   OR (status <> %s AND (balance <> 0 OR pending <> 0 OR has_lots = 1))
ORDER BY id
LIMIT %s
"""


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
    for pk, balance, pending, lifetime, total, life in totals[:limit]:
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

    # 4. Lots hold the member's pending points and spendable balance. Compared in the
    # database, which returns only the members that break a rule: memory stays flat
    # however many members there are.
    report.outstanding_points = int(
        Member.objects.aggregate(total=Coalesce(Sum(F("balance") + F("pending")), 0))["total"])
    with connection.cursor() as cursor:
        cursor.execute(_LOT_SUMS.format(member=Member._meta.db_table,
                                        lot=PointsLot._meta.db_table,
                                        entry=PointsEntry._meta.db_table),
                       [Member.Status.ACTIVE, limit])
        rows = cursor.fetchall()
    for pk, balance, pending, status, pending_lots, spendable_lots, has_lots, debt in rows:
        if pending != pending_lots:
            add(f"member {pk}: pending {pending} != pending lots {pending_lots}")
        if spendable_lots != max(balance, 0):
            add(f"member {pk}: balance {balance} != spendable lots {spendable_lots}")
        if debt:
            add(f"member {pk}: balance below zero without a refund")
        if status != Member.Status.ACTIVE and (balance or pending or has_lots):
            add(f"member {pk}: closed but still holds points")

    # 5. Purchases and refunds agree with what they credited and took back.
    # Two queries, unordered: one OR over a join, limited, let PostgreSQL expect a match
    # in every row and walk all purchases through a nested loop (9 s at 1M purchases);
    # an anti-join is estimated for what it is, and hashed.
    same_points = PointsEntry.objects.filter(pk=OuterRef("entry_id"),
                                             points=OuterRef("points_earned"))
    for pk in (Purchase.objects.filter(entry__isnull=False).filter(~Exists(same_points))
               .order_by().values_list("pk", flat=True)[:limit]):
        add(f"purchase {pk}: points or refunds inconsistent")
    for pk in (Purchase.objects.filter(
            Q(entry__isnull=True) & ~Q(points_earned=0)
            | Q(refunded_amount__gt=F("amount"))
            | Q(points_reversed__gt=F("points_earned")))
            .order_by().values_list("pk", flat=True)[:limit]):
        add(f"purchase {pk}: points or refunds inconsistent")
    refunds = (Refund.objects.filter(purchase=OuterRef("pk")).order_by()
               .values("purchase").annotate(total=Sum("amount")).values("total"))
    # Amounts are cents: SQLite sums them as floating point (1.26 + 2.52 is not 3.78
    # there), so the database compares to half a cent and the report shows the cents.
    half_cent = Decimal("0.005")
    for pk, amount, total in (
            Purchase.objects.filter(refunded_amount__gt=0)
            .annotate(refunds_total=Subquery(refunds, output_field=DecimalField()))
            .annotate(gap=ExpressionWrapper(F("refunds_total") - F("refunded_amount"),
                                            output_field=DecimalField()))
            .filter(Q(refunds_total__isnull=True) | Q(gap__gt=half_cent)
                    | Q(gap__lt=-half_cent))
            .order_by().values_list("pk", "refunded_amount", "refunds_total")[:limit]):
        total = None if total is None else Decimal(total).quantize(Decimal("0.01"))
        add(f"purchase {pk}: refunded {amount} != refunds {total}")
    return report
