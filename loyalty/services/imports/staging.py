"""The staging table of a purchases import: the file's checked rows, in the database.

Rows are checked in Python one by one, then land in a temporary table of this
connection (PostgreSQL: `COPY`; SQLite: `executemany`) so that everything that
needs the whole file (the lines of one order, the customers, what is already
stored) is a query over it, and the Python process keeps only one chunk of
rows at a time however large the file. Temporary tables belong to the
session: nobody else sees them, and they vanish with the connection.
"""

# ruff: noqa: S608 - SQL built from fixed table names and fragments; values are parameters
from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.db import DatabaseError, connection, transaction

ROWS = "import_rows"
CUSTOMERS = "import_customers"
ORDERS = "import_orders"
COLUMNS = ("line", "customer_ref", "order_id", "occurred_at", "amount_cents", "email",
           "first_name", "last_name", "sku", "category", "quantity", "unit_price_cents",
           "item_json")
TEMP_TABLES = (ORDERS, CUSTOMERS, ROWS)
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLite stages a time: UTC, sortable as text


def read_time(value) -> datetime:
    """A staged time as an aware datetime (PostgreSQL gives one; SQLite gives text)."""
    if isinstance(value, datetime):
        return value
    return datetime.strptime(value, SQLITE_TIME).replace(tzinfo=UTC)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# PostgreSQL keeps a session's temporary tables in its own buffers, 8 MB by default: a
# million staged rows would go to disk and back at every statement. It can only be raised
# before the session's first temporary table; a worker's later imports keep what it got.
TEMP_BUFFERS = "256MB"


def _raise_temp_buffers() -> None:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")
    except DatabaseError:
        pass  # this session has used temporary tables already


def create() -> None:
    if is_postgres():
        _raise_temp_buffers()
    drop()
    occurred = "timestamptz" if is_postgres() else "text"
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE TEMPORARY TABLE {ROWS} (
                line integer NOT NULL,
                customer_ref varchar(100) NOT NULL,
                order_id varchar(100) NOT NULL,
                occurred_at {occurred} NOT NULL,
                amount_cents bigint NOT NULL,
                email varchar(254) NOT NULL,
                first_name varchar(100) NOT NULL,
                last_name varchar(100) NOT NULL,
                sku varchar(100),
                category varchar(100),
                quantity integer,
                unit_price_cents bigint,
                item_json text
            )""")


def drop() -> None:
    with connection.cursor() as cursor:
        for table in TEMP_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def load(rows: list[tuple]) -> None:
    """Append checked rows (tuples in COLUMNS order)."""
    if not rows:
        return
    with connection.cursor() as cursor:
        if is_postgres():
            with cursor.cursor.copy(f"COPY {ROWS} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                copy.write("".join(map(_copy_line, rows)).encode())
        else:
            marks = ", ".join(["%s"] * len(COLUMNS))
            cursor.executemany(f"INSERT INTO {ROWS} ({', '.join(COLUMNS)}) VALUES ({marks})",
                               rows)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy_line(row: tuple) -> str:
    """One row in COPY's text format (spelt out here: psycopg's write_row, called for each
    of a million rows, costs more than the rest of the staging)."""
    return "\t".join(map(_copy_text, row)) + "\n"


def analyse(*indexes: str) -> None:
    """Index the staged rows for the queries to come, and give the planner statistics
    (nothing analyses a temporary table by itself)."""
    with connection.cursor() as cursor:
        for columns in indexes:
            name = "import_rows_" + "_".join(column.strip() for column in columns.split(","))
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {ROWS} ({columns})")
        cursor.execute(f"ANALYZE {ROWS}")


def chunks(iterable: Iterable, size: int) -> Iterator[list]:
    """Lists of `size` items (the last one shorter), as they come."""
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def query(sql: str, params: Iterable = (), *, size: int = 5000) -> Iterator[tuple]:
    """The rows of a query, fetched `size` at a time."""
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params) or None)
        while batch := cursor.fetchmany(size):
            yield from batch


def execute(sql: str, params: Iterable = ()) -> int:
    """Run one statement; returns the rows it changed. (No parameters: a % is a %.)"""
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params) or None)
        return cursor.rowcount


def scalar(sql: str, params: Iterable = ()):
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params) or None)
        row = cursor.fetchone()
        return row[0] if row else None


def first_row(sql: str, params: Iterable = ()) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params) or None)
        return cursor.fetchone()


def keyset(sql: str, params: Iterable, *, key: str, size: int = 2000) -> Iterator[tuple]:
    """The rows of `sql`, page by page along `key` (its leading columns, in its ORDER BY).

    `sql` holds `{after}` where a condition on the key may go (`WHERE ... {after}`). No
    cursor stays open between pages, so the caller may write while it walks through them,
    and only one page is ever in memory (psycopg's cursors fetch whole results).
    """
    width = key.count(",") + 1
    after, last = "", []
    while True:
        rows = list(query(sql.format(after=after) + f" LIMIT {int(size)}", [*params, *last]))
        yield from rows
        if len(rows) < size:
            return
        last = list(rows[-1][:width])
        after = f"AND ({key}) > ({', '.join(['%s'] * width)})"


def first_and_count(sql: str, params: Iterable = (), *, limit: int) -> tuple[list[tuple], int]:
    """The first `limit` rows of `sql` (ordered by its first column) and how many there are."""
    rows = list(query(f"SELECT t.*, count(*) OVER () FROM ({sql}) t ORDER BY 1 LIMIT {int(limit)}",
                      params))
    return [row[:-1] for row in rows], (rows[0][-1] if rows else 0)
