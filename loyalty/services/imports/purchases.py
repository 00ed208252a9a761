"""`import_purchases`: a shop's sales history from a CSV, as the contract specifies it.

Columns `customer_ref,order_id,occurred_at,amount`, and optionally
`email,first_name,last_name,sku,category,quantity`. The rules:

- One row is one line of an order. Rows sharing an `order_id` are lines of
  the same order (anywhere in the file): they must name the same
  `customer_ref` and the same `occurred_at`; the order's amount is the sum of
  their amounts. A row with a `sku` becomes a purchase line (`PurchaseItem`)
  with its `quantity` (default 1) and `category`; its `amount` is what the
  line cost in all, so the unit price is amount / quantity, which must come
  out in whole cents. A row without a sku (shipping, a discount line as a
  positive amount, an order without detail) counts in the amount only.
- `occurred_at` is an ISO 8601 date (midnight) or date and time; without an
  offset it is read in the programme's time zone (settings.TIME_ZONE). Not in
  the future, not more than ten years ago. Amounts follow the API's rules
  (`parse_money`: a decimal with at most two places, within the maximum).
- The customer: the member holding `customer_ref` as an external id of the
  store; else, if exactly one member holds that value as an external id of
  another store, that member (several: the row is rejected, not guessed);
  else the member holding the normalised `email`; else a new member (the
  email and names of the customer's first rows that give them, a card, the
  base tier). Whoever it is gets `customer_ref` as an external id of the
  store, so the next import finds them directly. Two new customer refs with
  the same email are one person: one member, both refs.
- An order already stored for the store with the same member and amount is
  "already present" (its lines are not compared: an order recorded at the
  till without lines stays as it is); with another member or amount it is an
  `order_conflict` and the file is rejected.
- Without `credit_points`, history earns nothing: purchases are written with
  no points and no ledger entry (their fingerprint computed as
  `record_purchase` would, so that the API recognises them). With it, each
  order goes through `record_purchase`, oldest first, so the ledger stays the
  only writer of points: the points expire from the purchase's date as live
  ones would (older than the validity: credited, then expired at once), tiers
  and webhooks follow. That path is much slower (a few hundred orders a
  second, one transaction for the whole file).

Two passes: every row is checked and staged (`staging`), then one transaction
checks what needs the whole file and the database and, if nothing is wrong,
writes. A file with any error writes nothing. Re-importing a file adds nothing.
On PostgreSQL the second pass is a handful of set-based statements
(`purchases_pg`); elsewhere a chunked ORM path gives the same result
(`purchases_orm`).
"""

# ruff: noqa: S608 - SQL built from fixed table names and fragments; values are parameters
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _json_text

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from loyalty.models import Store
from loyalty.services.errors import Invalid
from loyalty.services.imports import purchases_orm, purchases_pg, staging, values
from loyalty.services.imports.csvfile import (
    MAX_REPORTED_ERRORS,
    CsvFile,
    ErrorList,
    ImportRejected,
    Row,
    Source,
    estimate_rows,
    open_source,
)
from loyalty.services.imports.progress import Progress
from loyalty.services.inputs import CENT, MAX_QUANTITY, parse_money

REQUIRED = ("customer_ref", "order_id", "occurred_at", "amount")
OPTIONAL = ("email", "first_name", "last_name", "sku", "category", "quantity")
CHUNK = 10_000


@dataclass
class Summary:
    rows: int = 0
    orders: int = 0
    members_created: int = 0
    members_matched: int = 0
    purchases_added: int = 0
    already_present: int = 0
    items_added: int = 0
    points_credited: int = 0

    def as_dict(self, **extra) -> dict:
        return {**self.__dict__, **extra}


def import_purchases(*, source: Source, store: Store, credit_points: bool = False,
                     progress: Progress | None = None, now: datetime | None = None) -> dict:
    """Import a purchases file into `store`; returns the summary.

    Raises ImportRejected (with the errors by line) when any row is wrong:
    then nothing was written.
    """
    now = now or timezone.now()
    progress = progress or Progress()
    errors = ErrorList()
    summary = Summary()
    try:
        staging.create()
        progress.start("checking", estimate_rows(source))
        with open_source(source) as stream:
            csv_file = CsvFile(stream, required=REQUIRED, optional=OPTIONAL, errors=errors)
            if not csv_file.ok:
                raise ImportRejected(errors)
            summary.rows = stage(csv_file, now=now, errors=errors, progress=progress)
        progress.start("writing", summary.rows)
        with transaction.atomic():
            write(store=store, summary=summary, errors=errors, now=now,
                  credit_points=credit_points, progress=progress)
        return summary.as_dict(store=store.code, credit_points=credit_points,
                               ignored_columns=csv_file.ignored)
    finally:
        progress.close()
        staging.drop()


# --- pass 1: each row alone ------------------------------------------------------------------


def stage(csv_file: CsvFile, *, now: datetime, errors: ErrorList, progress: Progress) -> int:
    """Check every row, stage the good ones; returns how many rows the file has."""
    parser = RowParser(now=now, for_postgres=staging.is_postgres())
    count = 0
    chunk: list[tuple] = []
    for row in csv_file:
        count += 1
        staged = parser.parse(row, errors)
        if staged is not None:
            # Staged even when other rows are bad: the checks over the whole file then
            # report their problems too, in the same list.
            chunk.append(staged)
        if count % CHUNK == 0:
            staging.load(chunk)
            chunk.clear()
            progress.advance(CHUNK)
    staging.load(chunk)
    progress.advance(count % CHUNK)
    return count


class RowParser:
    """Checks one row at a time; reads nothing from the database.

    A file repeats itself (an order's time on each of its lines, a customer's
    email on each order), so parsed times and emails are remembered, a bounded
    number of them.
    """

    CACHE = 4096

    def __init__(self, *, now: datetime, for_postgres: bool = True):
        self.now = now
        self.max_cents = int(Decimal(settings.LOYALTY_MAX_PURCHASE_AMOUNT) * 100)
        self.for_postgres = for_postgres
        self._times: dict[str, datetime | values.BadValue] = {}
        self._emails: dict[str, str | values.BadValue] = {}

    def _remembered(self, cache: dict, value: str, parse):
        result = cache.get(value)
        if result is None:
            try:
                result = parse(value)
            except values.BadValue as bad:
                result = bad
            if len(cache) >= self.CACHE:
                cache.clear()
            cache[value] = result
        if isinstance(result, values.BadValue):
            raise result
        return result

    def _time(self, value: str) -> datetime:
        return self._remembered(self._times, value,
                                lambda v: values.local_datetime(v, now=self.now))

    def _email(self, value: str) -> str:
        return self._remembered(self._emails, value, values.email) if value else ""

    def _cents(self, value: str) -> int:
        """The amount in cents, by parse_money's rules (a fast path for the usual "49.90")."""
        match = _PLAIN_AMOUNT.fullmatch(value)
        if match is not None:
            whole, part = match.groups()
            cents = int(whole) * 100 + (int(part) * (10 if len(part) == 1 else 1) if part else 0)
            if cents <= self.max_cents:
                return cents
        return int(_money(value) * 100)

    def parse(self, row: Row, errors: ErrorList) -> tuple | None:
        """The row as a staging tuple (staging.COLUMNS), or None with its errors recorded."""
        get = row.values.get
        ok = True
        parsed = []
        for column, parse in ((("customer_ref", values.identifier),
                               ("order_id", values.identifier),
                               ("occurred_at", self._time), ("amount", self._cents),
                               ("email", self._email), ("first_name", _name),
                               ("last_name", _name))):
            try:
                parsed.append(parse(get(column, "")))
            except values.BadValue as bad:
                errors.add(row.line, column, bad.code, bad.params)
                ok = False
        sku = category = quantity = unit_cents = item_json = None
        if get("sku"):
            column = "sku"
            try:
                sku = values.identifier(get("sku"))
                column = "category"
                category = _name(get("category", ""))
                column = "quantity"
                quantity = _quantity(get("quantity", ""))
            except values.BadValue as bad:
                errors.add(row.line, column, bad.code, bad.params)
                ok = False
        elif get("quantity") or get("category"):
            column = "quantity" if get("quantity") else "category"
            errors.add(row.line, column, "sku_required")
            ok = False
        if not ok:
            return None
        ref, order_id, occurred_at, cents, email, first_name, last_name = parsed
        if sku is not None:
            if cents % quantity:
                errors.add(row.line, "amount", "uneven_split", {
                    "amount": str(Decimal(cents) / 100), "quantity": quantity})
                return None
            unit_cents = cents // quantity
            item_json = itemfingerprint(sku=sku, category=category, quantity=quantity,
                                         unit_price=Decimal(unit_cents) / 100)
        if not self.for_postgres:
            occurred_at = occurred_at.astimezone(UTC).strftime(staging.SQLITE_TIME)
        return (row.line, ref, order_id, occurred_at, cents, email, first_name, last_name,
                sku, category, quantity, unit_cents, item_json)


_PLAIN_AMOUNT = re.compile(r"(\d{1,10})(?:\.(\d{1,2}))?")


def _name(value: str) -> str:
    return values.text(value) if value else ""


def _money(value: str) -> Decimal:
    if not value:
        raise values.BadValue("required")
    try:
        return parse_money(value, field="amount")
    except Invalid as error:
        raise values.from_invalid(error, "invalid_amount",
                                  max=str(settings.LOYALTY_MAX_PURCHASE_AMOUNT)) from None


def _quantity(value: str) -> int:
    return values.whole_number(value, minimum=1, maximum=MAX_QUANTITY) or 1


def itemfingerprint(*, sku: str, category: str, quantity: int, unit_price: Decimal) -> str:
    """One line as `record_purchase`'s fingerprint writes it: json.dumps of the clean item,
    keys sorted, non-ASCII escaped (spelt out here: it runs for every line of a file)."""
    return (f'{{"category": {_json_text(category)}, "quantity": {quantity:d}, '
            f'"sku": {_json_text(sku)}, "unit_price": "{unit_price.quantize(CENT)}"}}')


# --- pass 2: the whole file, against what is stored; then the writes -----------------------


def write(*, store: Store, summary: Summary, errors: ErrorList, now: datetime,
          credit_points: bool, progress: Progress) -> None:
    """Check, then write, in the caller's transaction. Raises ImportRejected before any
    write when something is wrong."""
    writer = purchases_pg if staging.is_postgres() else purchases_orm
    quarter = summary.rows // 4
    writer.prepare()
    build_orders(with_lines=staging.is_postgres())
    check_orders(errors)
    writer.resolve_customers(store)
    check_customers(errors)
    check_stored_orders(store, errors, summary)
    progress.advance(quarter)
    if errors:
        raise ImportRejected(errors)
    writer.create_members(store, now)
    summary.members_created, summary.members_matched = staging.first_row(f"""
        SELECT coalesce(sum(CASE WHEN found = 'new' THEN 1 ELSE 0 END), 0),
               coalesce(sum(CASE WHEN found IN ('store', 'other', 'email') THEN 1 ELSE 0 END), 0)
        FROM {staging.CUSTOMERS}""")
    progress.advance(quarter)
    if credit_points:
        purchases_orm.credit_orders(store=store, summary=summary, now=now)
    else:
        writer.insert_purchases(store, now, summary)
    progress.advance(summary.rows - 2 * quarter)


def check_customers(errors: ErrorList) -> None:
    """A customer_ref held by several members in other stores, or by a closed member."""
    def describe(column, ref, candidates):
        if candidates > 1:
            return "customer_ambiguous", {"ref": ref, "count": candidates}
        return "member_closed", {"variant": "ref", "ref": ref}

    add_sql_errors(errors, f"""
        SELECT first_line, 'customer_ref', customer_ref, candidates FROM {staging.CUSTOMERS}
        WHERE candidates > 1
        UNION ALL
        SELECT c.first_line, 'customer_ref', c.customer_ref, 0 FROM {staging.CUSTOMERS} c
        JOIN loyalty_member m ON m.id = c.member_id WHERE m.status <> 'active'""", [],
        describe)


def build_orders(*, with_lines: bool) -> None:
    """One row per order of the file, with what `check_orders` needs to see whether its
    lines agree; on PostgreSQL also its lines as the fingerprint spells them."""
    lines = (", coalesce(string_agg(item_json, ', ' ORDER BY line), '') AS items_json"
             if with_lines else "")
    staging.execute(f"""
        CREATE TEMPORARY TABLE {staging.ORDERS} AS
        SELECT order_id, min(line) AS first_line, min(customer_ref) AS customer_ref,
               max(customer_ref) AS last_ref, min(occurred_at) AS occurred_at,
               max(occurred_at) AS last_at, sum(amount_cents) AS amount_cents {lines}
        FROM {staging.ROWS} GROUP BY order_id""")
    staging.execute(f"CREATE UNIQUE INDEX import_orders_id ON {staging.ORDERS} (order_id)")


def check_stored_orders(store: Store, errors: ErrorList, summary: Summary) -> None:
    """An order already stored is present (same member and amount) or a conflict."""
    stored = f"""
        FROM {staging.ORDERS} o JOIN {staging.CUSTOMERS} c ON c.customer_ref = o.customer_ref
        JOIN loyalty_purchase p ON p.store_id = %s AND p.order_id = o.order_id"""
    same_amount = "CAST(round(p.amount * 100) AS bigint) = o.amount_cents"

    def describe(column, order_id, amount):
        return "order_conflict", {"order": order_id, "amount": str(amount)}

    add_sql_errors(errors, f"""
        SELECT o.first_line, 'order_id', o.order_id, p.amount {stored}
        WHERE c.member_id IS NULL OR p.member_id <> c.member_id OR NOT ({same_amount})""",
        [store.pk], describe)
    summary.orders = staging.scalar(f"SELECT count(*) FROM {staging.ORDERS}")
    summary.already_present = staging.scalar(f"""
        SELECT count(*) {stored} WHERE p.member_id = c.member_id AND {same_amount}""",
        [store.pk])


# --- the lines of one order agree -------------------------------------------------------------


def check_orders(errors: ErrorList) -> None:
    """Rows of one order name one customer and one time; the order's total is within bounds.

    The orders table tells whether any order is wrong; only then are the rows read again
    to say which lines.
    """
    max_cents = int(Decimal(settings.LOYALTY_MAX_PURCHASE_AMOUNT) * 100)
    if not staging.scalar(f"""
            SELECT count(*) FROM {staging.ORDERS} WHERE customer_ref <> last_ref
            OR occurred_at <> last_at OR amount_cents > %s""", [max_cents]):
        return
    lines = f"""
        SELECT line, order_id, customer_ref, occurred_at,
               first_value(customer_ref) OVER w AS order_ref,
               first_value(occurred_at) OVER w AS order_at,
               first_value(line) OVER w AS order_line,
               sum(amount_cents) OVER (PARTITION BY order_id) AS total
        FROM {staging.ROWS} WINDOW w AS (PARTITION BY order_id ORDER BY line)"""

    def describe(column, order_id, first_line):
        if column == "amount":
            return "order_too_large", {
                "order": order_id, "max": str(settings.LOYALTY_MAX_PURCHASE_AMOUNT)}
        return "order_mismatch", {"order": order_id, "column": column, "line": first_line}

    add_sql_errors(errors, f"""
        WITH lines AS ({lines})
        SELECT line, 'customer_ref', order_id, order_line FROM lines
            WHERE customer_ref <> order_ref
        UNION ALL SELECT line, 'occurred_at', order_id, order_line FROM lines
            WHERE occurred_at <> order_at
        UNION ALL SELECT line, 'amount', order_id, order_line FROM lines
            WHERE line = order_line AND total > %s""", [max_cents], describe)


def add_sql_errors(errors: ErrorList, sql: str, params: list, describe) -> None:
    """Errors from a query whose rows are (line, column, *details): the first ones by line
    are described (`describe(column, *details) -> (code, params)`), all are counted."""
    rows, count = staging.first_and_count(sql, params, limit=MAX_REPORTED_ERRORS)
    for line, column, *details in rows:
        errors.add(line, column, *describe(column, *details))
    errors.count += count - len(rows)
