"""Names folded for searching: accents and case set aside ("Hélène" finds "helene").

PostgreSQL folds with its `unaccent` extension, through `loyalty_unaccent`, an
IMMUTABLE wrapper (migration 0012) that a trigram index can be built on; SQLite
gets a function of the same name, written in Python, on each new connection, so
that one SQL expression serves both.
"""

from __future__ import annotations

import unicodedata

# The indexed expression (loyalty/migrations/0013_till.py): keep both the same.
NAME_EXPRESSION = "loyalty_unaccent(lower(first_name || ' ' || last_name))"


def fold(value: str) -> str:
    """Lower case, accents removed, white space collapsed."""
    decomposed = unicodedata.normalize("NFKD", str(value or ""))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.replace("ß", "ss").replace("æ", "ae").replace("œ", "oe")
                    .lower().split())


def register_sqlite_function(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("loyalty_unaccent", 1, fold,
                                              deterministic=True)
