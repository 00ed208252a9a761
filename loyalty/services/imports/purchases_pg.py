"""The second pass of a purchases import on PostgreSQL: set-based, a handful of statements.

Over the staged rows: one table of the file's customers (resolved to members
in four UPDATEs: external id in the store, in another store, email, new),
one table of its orders; the checks against what is stored; then INSERT ...
SELECT of the new members, their cards and external ids, and of the
purchases with their lines in one statement. No statement runs per row. The
rules are in `purchases`; `purchases_orm` is the same on other databases.
"""

# ruff: noqa: S608 - SQL built from fixed table names and fragments; values are parameters
from __future__ import annotations

from datetime import datetime

from loyalty.models import Store, Tier
from loyalty.services.imports import staging
from loyalty.services.imports.staging import CUSTOMERS, ORDERS

# Luhn's doubled digits, summed: 0→0, 1→2, ..., 5→1 (10), ..., 9→9 (18).
_DOUBLED = "'0246813579'"


def _card_number_sql(body: str) -> str:
    """SQL for `body` (9 digits as text) followed by its Luhn check digit, as cards.luhn_digit."""
    terms = [f"substr({_DOUBLED}, substr({body}, {k}, 1)::int + 1, 1)::int" if k % 2 else
             f"substr({body}, {k}, 1)::int" for k in range(1, 10)]
    return f"{body} || ((10 - ({' + '.join(terms)}) % 10) % 10)::text"


def prepare() -> None:
    staging.execute("SET LOCAL work_mem = '64MB'")
    staging.analyse()


def resolve_customers(store: Store) -> None:
    """The file's customers, each with the member it resolves to and how (`found`)."""
    def first(column):
        return (f"coalesce((array_agg({column} ORDER BY line) FILTER (WHERE {column} <> ''))[1],"
                f" '') AS {column}")

    staging.execute(f"""
        CREATE TEMPORARY TABLE {CUSTOMERS} WITH (fillfactor = 50) AS
        SELECT customer_ref, min(line) AS first_line, {first('email')}, {first('first_name')},
               {first('last_name')}, NULL::bigint AS member_id, ''::varchar(16) AS found,
               0 AS candidates, NULL::varchar(16) AS card_number
        FROM {staging.ROWS} GROUP BY customer_ref""")
    staging.execute(f"CREATE UNIQUE INDEX ON {CUSTOMERS} (customer_ref)")
    staging.execute(f"ANALYZE {CUSTOMERS}")
    staging.execute(f"""
        UPDATE {CUSTOMERS} c SET member_id = e.member_id, found = 'store'
        FROM loyalty_externalid e WHERE e.store_id = %s AND e.value = c.customer_ref""",
        [store.pk])
    staging.execute(f"""
        UPDATE {CUSTOMERS} c SET member_id = x.member_id, found = 'other', candidates = x.n
        FROM (SELECT e.value, min(e.member_id) AS member_id, count(DISTINCT e.member_id) AS n
              FROM loyalty_externalid e JOIN {CUSTOMERS} c2
                ON c2.customer_ref = e.value AND c2.member_id IS NULL
              WHERE e.store_id <> %s GROUP BY e.value) x
        WHERE c.customer_ref = x.value AND c.member_id IS NULL""", [store.pk])
    staging.execute(f"""
        UPDATE {CUSTOMERS} c SET member_id = m.id, found = 'email'
        FROM loyalty_member m
        WHERE c.member_id IS NULL AND c.email <> '' AND m.email = c.email
              AND m.status = 'active'""")
    # The rest are new; of several with one email, the first in the file makes the member.
    staging.execute(f"""
        UPDATE {CUSTOMERS} c
        SET found = CASE WHEN x.email = '' OR x.rank = 1 THEN 'new' ELSE 'same_email' END
        FROM (SELECT customer_ref, email,
                     row_number() OVER (PARTITION BY email ORDER BY first_line) AS rank
              FROM {CUSTOMERS} WHERE member_id IS NULL) x
        WHERE c.customer_ref = x.customer_ref""")


def create_members(store: Store, now: datetime) -> None:
    """New members with unused card numbers, their digital cards, and every customer's
    external id in the store."""
    # Random numbers, then their check digit; those already held (by a card, a member, or
    # twice in the file) are drawn again. Collisions are rare: a round or two.
    for _attempt in range(20):
        staging.execute(f"""
            UPDATE {CUSTOMERS}
            SET card_number = (100000000 + floor(random() * 900000000))::bigint::text
            WHERE found = 'new' AND card_number IS NULL""")
        staging.execute(f"""
            UPDATE {CUSTOMERS} SET card_number = {_card_number_sql('card_number')}
            WHERE found = 'new' AND length(card_number) = 9""")
        staging.execute(f"ANALYZE {CUSTOMERS}")
        clashes = staging.execute(f"""
            UPDATE {CUSTOMERS} c SET card_number = NULL
            WHERE c.found = 'new' AND (
                EXISTS (SELECT 1 FROM loyalty_card k WHERE k.number = c.card_number)
                OR EXISTS (SELECT 1 FROM loyalty_member m WHERE m.card_number = c.card_number)
                OR c.card_number IN (SELECT card_number FROM {CUSTOMERS} WHERE found = 'new'
                                     GROUP BY card_number HAVING count(*) > 1))""")
        if not clashes:
            break
    else:  # pragma: no cover - 20 rounds of collisions among 10^9 numbers
        raise RuntimeError("Could not find free card numbers.")
    tier = Tier.objects.filter(threshold__lte=0).order_by("-rank").values_list(
        "pk", flat=True).first()
    staging.execute(f"""
        INSERT INTO loyalty_member (card_number, email, phone, first_name, last_name,
            birth_date, language, email_marketing, email_marketing_at, sms_marketing,
            sms_marketing_at, balance, pending, lifetime_earned, status, created_at, updated_at,
            merged_into_id, referred_by_id, user_id, tier_id)
        SELECT card_number, email, '', first_name, last_name, NULL, '', false, NULL, false,
               NULL, 0, 0, 0, 'active', %s, %s, NULL, NULL, NULL, %s
        FROM {CUSTOMERS} WHERE found = 'new' ORDER BY first_line""", [now, now, tier])
    staging.execute(f"""
        UPDATE {CUSTOMERS} c SET member_id = m.id FROM loyalty_member m
        WHERE c.found = 'new' AND m.card_number = c.card_number""")
    staging.execute(f"""
        UPDATE {CUSTOMERS} c SET member_id = o.member_id FROM {CUSTOMERS} o
        WHERE c.found = 'same_email' AND o.found = 'new' AND o.email = c.email""")
    staging.execute(f"""
        INSERT INTO loyalty_card (member_id, number, kind, status, issued_at,
                                  issued_by_store_id, blocked_at)
        SELECT member_id, card_number, 'digital', 'active', %s, %s, NULL
        FROM {CUSTOMERS} WHERE found = 'new' ORDER BY first_line""", [now, store.pk])
    staging.execute(f"""
        INSERT INTO loyalty_externalid (member_id, store_id, value, created_at)
        SELECT member_id, %s, customer_ref, %s FROM {CUSTOMERS}
        WHERE found <> 'store' ORDER BY first_line""", [store.pk, now])


def insert_purchases(store: Store, now: datetime, summary) -> None:
    """The new orders and their lines, in one statement; fingerprints as record_purchase's."""
    amount = "(o.amount_cents / 100.0)::numeric(14, 2)"
    fingerprint = (f"""encode(sha256(convert_to('{{"amount": "' || {amount}::text || '", """
                   f""""items": [' || o.items_json || ']}}', 'UTF8')), 'hex')""")
    added, items = next(staging.query(f"""
        WITH added AS (
            INSERT INTO loyalty_purchase (store_id, order_id, member_id, amount, occurred_at,
                points_earned, points_breakdown, points_reversed, refunded_amount,
                balance_after, entry_id, fingerprint, created_at)
            SELECT %s, o.order_id, c.member_id, {amount}, o.occurred_at, 0, '[]'::jsonb, 0, 0,
                   m.balance, NULL, {fingerprint}, %s
            FROM {ORDERS} o JOIN {CUSTOMERS} c ON c.customer_ref = o.customer_ref
            JOIN loyalty_member m ON m.id = c.member_id
            WHERE NOT EXISTS (SELECT 1 FROM loyalty_purchase p
                              WHERE p.store_id = %s AND p.order_id = o.order_id)
            ORDER BY o.occurred_at, o.order_id
            ON CONFLICT (store_id, order_id) DO NOTHING
            RETURNING id, order_id),
        lines AS (
            INSERT INTO loyalty_purchaseitem (purchase_id, sku, category, quantity, unit_price)
            SELECT a.id, r.sku, r.category, r.quantity, r.unit_price_cents / 100.0
            FROM added a JOIN {staging.ROWS} r ON r.order_id = a.order_id
            WHERE r.sku IS NOT NULL ORDER BY r.line
            RETURNING 1)
        SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM lines)""",
        [store.pk, now, store.pk]))
    summary.purchases_added, summary.items_added = added, items
