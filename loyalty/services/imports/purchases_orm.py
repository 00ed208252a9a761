"""The second pass of a purchases import through the ORM, in chunks.

SQLite (development) takes this path for everything; every database takes it
for `--credit-points`, where each order goes through `record_purchase`. It
gives what `purchases_pg` gives (the tests run both on the same files): the
same members, external ids, purchases, lines and fingerprints.
"""

# ruff: noqa: S608 - SQL built from fixed table names and fragments; values are parameters
from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import groupby

from loyalty.models import Card, ExternalId, Member, Purchase, PurchaseItem, Store, Tier
from loyalty.services.cards import CARD_NUMBER_DIGITS, luhn_digit
from loyalty.services.imports import staging
from loyalty.services.imports.staging import CUSTOMERS
from loyalty.services.imports.staging import chunks as batched
from loyalty.services.inputs import CENT, content_fingerprint
from loyalty.services.purchases import record_purchase

CHUNK = 1000


def prepare() -> None:
    staging.analyse("customer_ref, line", "occurred_at, order_id, line")


def _first(column: str) -> str:
    return (f"coalesce((SELECT r.{column} FROM {staging.ROWS} r "
            f"WHERE r.customer_ref = c.customer_ref AND r.{column} <> '' "
            f"ORDER BY r.line LIMIT 1), '')")


def resolve_customers(store: Store) -> None:
    """The file's customers, each with the member it resolves to and how (`found`)."""
    staging.execute(f"""
        CREATE TEMPORARY TABLE {CUSTOMERS} (
            customer_ref varchar(100) PRIMARY KEY, first_line integer NOT NULL,
            email varchar(254) NOT NULL, first_name varchar(100) NOT NULL,
            last_name varchar(100) NOT NULL, member_id bigint,
            found varchar(16) NOT NULL DEFAULT '', candidates integer NOT NULL DEFAULT 0)""")
    staging.execute(f"""
        INSERT INTO {CUSTOMERS} (customer_ref, first_line, email, first_name, last_name)
        SELECT c.customer_ref, c.first_line, {_first('email')}, {_first('first_name')},
               {_first('last_name')}
        FROM (SELECT customer_ref, min(line) AS first_line FROM {staging.ROWS}
              GROUP BY customer_ref) c""")
    staging.execute(f"CREATE INDEX import_customers_line ON {CUSTOMERS} (first_line)")
    staging.execute(f"CREATE INDEX import_customers_email ON {CUSTOMERS} (email)")
    rows = staging.keyset(f"SELECT first_line, customer_ref, email FROM {CUSTOMERS} "
                          "WHERE 1 = 1 {after} ORDER BY first_line", [], key="first_line")
    for chunk in batched(rows, CHUNK):
        refs = [ref for _line, ref, _email in chunk]
        at_store = dict(ExternalId.objects.filter(store=store, value__in=refs)
                        .values_list("value", "member_id"))
        elsewhere = defaultdict(set)
        for value, member_id in (ExternalId.objects.exclude(store=store)
                                 .filter(value__in=[ref for ref in refs if ref not in at_store])
                                 .values_list("value", "member_id")):
            elsewhere[value].add(member_id)
        by_email = dict(Member.objects.filter(
            status=Member.Status.ACTIVE,
            email__in=[email for _line, ref, email in chunk
                       if email and ref not in at_store and ref not in elsewhere])
            .values_list("email", "pk"))
        updates = []
        for _line, ref, email in chunk:
            if ref in at_store:
                updates.append((at_store[ref], "store", 0, ref))
            elif ref in elsewhere:
                updates.append((min(elsewhere[ref]), "other", len(elsewhere[ref]), ref))
            elif email in by_email:
                updates.append((by_email[email], "email", 0, ref))
        _update_customers("member_id = %s, found = %s, candidates = %s", updates)
    # The rest are new; of several with one email, the first in the file makes the member.
    staging.execute(f"""
        UPDATE {CUSTOMERS} SET found = CASE
            WHEN email = '' OR first_line = (SELECT min(o.first_line) FROM {CUSTOMERS} o
                                             WHERE o.member_id IS NULL
                                             AND o.email = {CUSTOMERS}.email)
            THEN 'new' ELSE 'same_email' END
        WHERE member_id IS NULL""")


def _update_customers(assignments: str, rows: list[tuple]) -> None:
    if rows:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {CUSTOMERS} SET {assignments} WHERE customer_ref = %s", rows)


def fresh_card_numbers(count: int) -> list[str]:
    """`count` distinct card numbers that no card and no member holds (as new_card_number)."""
    numbers: set[str] = set()
    while len(numbers) < count:
        candidates = set()
        while len(candidates) < count - len(numbers):
            body = str(secrets.randbelow(9 * 10 ** (CARD_NUMBER_DIGITS - 1))
                       + 10 ** (CARD_NUMBER_DIGITS - 1))
            candidates.add(body + luhn_digit(body))
        candidates -= numbers
        candidates -= set(Card.objects.filter(number__in=candidates)
                          .values_list("number", flat=True))
        candidates -= set(Member.objects.filter(card_number__in=candidates)
                          .values_list("card_number", flat=True))
        numbers |= candidates
    return list(numbers)


def create_members(store: Store, now: datetime) -> None:
    """New members (a card number, their digital card, the base tier), then every customer's
    external id in the store."""
    tier = Tier.objects.filter(threshold__lte=0).order_by("-rank").values_list(
        "pk", flat=True).first()
    rows = staging.keyset(
        f"SELECT first_line, customer_ref, email, first_name, last_name FROM {CUSTOMERS} "
        "WHERE found = 'new' {after} ORDER BY first_line", [], key="first_line")
    for chunk in batched(rows, CHUNK):
        members = Member.objects.bulk_create([
            Member(card_number=number, email=email, first_name=first, last_name=last,
                   tier_id=tier)
            for number, (_line, _ref, email, first, last) in zip(
                fresh_card_numbers(len(chunk)), chunk, strict=True)])
        Card.objects.bulk_create([Card(member=member, number=member.card_number,
                                       kind=Card.Kind.DIGITAL, issued_by_store=store)
                                  for member in members])
        _update_customers("member_id = %s", [(member.pk, ref) for member, (_l, ref, *_r)
                                             in zip(members, chunk, strict=True)])
    staging.execute(f"""
        UPDATE {CUSTOMERS} SET member_id = (
            SELECT o.member_id FROM {CUSTOMERS} o
            WHERE o.found = 'new' AND o.email = {CUSTOMERS}.email)
        WHERE found = 'same_email'""")
    rows = staging.keyset(f"SELECT first_line, customer_ref, member_id FROM {CUSTOMERS} "
                          "WHERE found <> 'store' {after} ORDER BY first_line", [],
                          key="first_line")
    for chunk in batched(rows, CHUNK):
        ExternalId.objects.bulk_create([ExternalId(member_id=member_id, store=store, value=ref)
                                        for _line, ref, member_id in chunk])


# --- orders ----------------------------------------------------------------------------------


@dataclass
class Order:
    order_id: str
    member_id: int
    occurred_at: datetime
    amount: Decimal = Decimal("0.00")
    items: list[dict] = field(default_factory=list)


def orders() -> Iterator[Order]:
    """The file's orders, oldest first, each with its member and lines."""
    rows = staging.keyset(f"""
        SELECT r.occurred_at, r.order_id, r.line, c.member_id, r.amount_cents, r.sku,
               r.category, r.quantity, r.unit_price_cents
        FROM {staging.ROWS} r JOIN {CUSTOMERS} c ON c.customer_ref = r.customer_ref
        WHERE 1 = 1 {{after}} ORDER BY r.occurred_at, r.order_id, r.line""", [],
        key="r.occurred_at, r.order_id, r.line")
    for order_id, lines in groupby(rows, key=lambda row: row[1]):
        cents = 0
        order = None
        for occurred_at, _id, _line, member_id, amount, sku, category, quantity, unit in lines:
            if order is None:
                order = Order(order_id=order_id, member_id=member_id,
                              occurred_at=staging.read_time(occurred_at))
            cents += amount
            if sku is not None:
                order.items.append({"sku": sku, "category": category, "quantity": quantity,
                                    "unit_price": (Decimal(unit) / 100).quantize(CENT)})
        order.amount = (Decimal(cents) / 100).quantize(CENT)
        yield order


def _new_orders(store: Store) -> Iterator[list[Order]]:
    """Chunks of the file's orders that the store does not hold yet."""
    for chunk in batched(orders(), CHUNK):
        stored = set(Purchase.objects.filter(store=store, order_id__in=[o.order_id for o in chunk])
                     .values_list("order_id", flat=True))
        yield [order for order in chunk if order.order_id not in stored]


def insert_purchases(store: Store, now: datetime, summary) -> None:
    """The new orders as purchases with no points, and their lines, a chunk at a time."""
    for chunk in _new_orders(store):
        balances = dict(Member.objects.filter(pk__in={o.member_id for o in chunk})
                        .values_list("pk", "balance"))
        purchases = Purchase.objects.bulk_create([Purchase(
            store=store, order_id=order.order_id, member_id=order.member_id,
            amount=order.amount, occurred_at=order.occurred_at, points_earned=0,
            points_breakdown=[], balance_after=balances[order.member_id], entry=None,
            fingerprint=content_fingerprint({"amount": order.amount, "items": order.items}),
            created_at=now) for order in chunk])
        lines = PurchaseItem.objects.bulk_create([
            PurchaseItem(purchase=purchase, **item)
            for purchase, order in zip(purchases, chunk, strict=True) for item in order.items])
        summary.purchases_added += len(purchases)
        summary.items_added += len(lines)


def credit_orders(*, store: Store, summary, now: datetime) -> None:
    """Each new order through `record_purchase`, oldest first: the ledger credits the points."""
    if staging.is_postgres():
        staging.analyse("occurred_at, order_id, line")
    for chunk in _new_orders(store):
        members = Member.objects.in_bulk({order.member_id for order in chunk})
        for order in chunk:
            recorded = record_purchase(
                store=store, order_id=order.order_id, amount=order.amount,
                member=members[order.member_id], items=order.items,
                occurred_at=order.occurred_at, now=now)
            if recorded.created:
                summary.purchases_added += 1
                summary.items_added += len(order.items)
                summary.points_credited += recorded.obj.points_earned
