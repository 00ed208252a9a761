"""Purchase histories for the insight tests, written straight into the tables.

The insight run only reads members and purchases, so these builders skip the
purchase service (and its points): thousands of customers in a few queries.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction

from loyalty.models import Member, MemberInsight, Purchase, Store

PARIS = ZoneInfo("Europe/Paris")
# A Sunday in summer, noon in Paris: the tests' "now".
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=PARIS)
_numbers = itertools.count(1)


def shop() -> Store:
    return Store.objects.get_or_create(code="insight", defaults={"name": "Insight shop"})[0]


def members(count: int, **fields) -> list[Member]:
    """`count` active members (no card, no points: the insight run needs neither)."""
    created = Member.objects.bulk_create(
        [Member(card_number=f"9{next(_numbers):015d}", **fields) for _ in range(count)])
    return created


def member(**fields) -> Member:
    return members(1, **fields)[0]


def purchase(customer: Member, *, at: datetime | None = None, days_ago: float = 0,
             amount: str | Decimal = "10.00", refunded: str | Decimal = "0.00",
             now: datetime = NOW) -> Purchase:
    return buy([(customer, at or now - timedelta(days=days_ago), amount, refunded)])[0]


def buy(rows) -> list[Purchase]:
    """Purchases from (member, occurred_at, amount[, refunded]) tuples, in one INSERT."""
    store = shop()
    purchases = []
    for row in rows:
        customer, at, amount, *rest = row
        number = next(_numbers)
        purchases.append(Purchase(
            store=store, order_id=f"I-{number}", member=customer, amount=Decimal(amount),
            refunded_amount=Decimal(rest[0] if rest else "0.00"), occurred_at=at,
            fingerprint=f"{number}", created_at=at))
    return Purchase.objects.bulk_create(purchases, batch_size=2000)


def insight(customer: Member) -> MemberInsight:
    return MemberInsight.objects.get(member=customer)


def rfm(customer: Member) -> tuple:
    row = insight(customer)
    return row.r, row.f, row.m


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back():
    """A block whose writes are undone: one hypothesis example on a clean database."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass
