"""The few SQL pieces the insight steps share, and where PostgreSQL and SQLite differ.

The steps write plain SQL through Django's cursor, always with parameters
(never values formatted into the text). Table names come from the models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


# A batch over every member: its sorts and hashes may take more memory than a web
# request's, and JIT compilation costs more (seconds over a run's statements) than it
# saves on these plans.
BATCH_WORK_MEM = "64MB"


def batch_settings() -> None:
    """On PostgreSQL, the current transaction's settings for a batch (SET LOCAL)."""
    if is_postgres():
        execute(f"SET LOCAL work_mem = '{BATCH_WORK_MEM}'")
        execute("SET LOCAL jit = off")


def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def param(value):
    """A parameter as the database compares it: SQLite stores datetimes as naive UTC text."""
    if is_postgres():
        return value
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def execute(sql: str, params: Sequence = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, [param(value) for value in params])
        return cursor.rowcount


def fetch_all(sql: str, params: Sequence = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, [param(value) for value in params])
        return cursor.fetchall()


def fetch_value(sql: str, params: Sequence = ()):
    rows = fetch_all(sql, params)
    return rows[0][0] if rows else None


def stream(sql: str, params: Sequence = (), *, chunk: int = 2000) -> Iterator[list[tuple]]:
    """Rows in chunks: memory stays flat however many rows the query returns.

    A server-side cursor on PostgreSQL (inside the run's transaction), so other
    statements may run between chunks.
    """
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [param(value) for value in params])
        while rows := cursor.fetchmany(chunk):
            yield rows


def seconds_between(start: str, end: str) -> str:
    """SQL for the seconds from one timestamp expression to another."""
    if is_postgres():
        return f"EXTRACT(EPOCH FROM ({end} - {start}))"
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def differs(a: str, b: str) -> str:
    """NULL-safe "not equal"."""
    if is_postgres():
        return f"{a} IS DISTINCT FROM {b}"
    return f"{a} IS NOT {b}"


def timestamp_param() -> str:
    """A placeholder typed as a timestamp (PostgreSQL infers no type for `%s - column`)."""
    return "%s::timestamptz" if is_postgres() else "%s"


@contextmanager
def temp_table(name: str, select: str, params: Sequence = ()) -> Iterator[str]:
    """A temporary table holding the rows of `select`, dropped afterwards.

    Not dropped when the body raises: the failed transaction is rolled back, which
    drops it (and a PostgreSQL transaction in error accepts no more statements).
    """
    quoted = connection.ops.quote_name(name)
    execute(f"DROP TABLE IF EXISTS {quoted}")
    execute(f"CREATE TEMPORARY TABLE {quoted} AS {select}", params)
    if is_postgres():
        execute(f"ANALYZE {quoted}")  # no autovacuum for temporary tables: plan with real counts
    yield quoted
    execute(f"DROP TABLE IF EXISTS {quoted}")
