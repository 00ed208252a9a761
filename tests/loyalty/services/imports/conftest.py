"""Files for the import tests, written as they come from a shop's export."""

import pytest

PURCHASES_HEADER = "customer_ref,order_id,occurred_at,amount"


def csv_file(header: str, *rows: str, newline: str = "\n") -> bytes:
    """A CSV as bytes: the header, then the rows."""
    return (newline.join([header, *rows]) + newline).encode()


def purchases(*rows: str, header: str = PURCHASES_HEADER) -> bytes:
    return csv_file(header, *rows)


@pytest.fixture
def errors_of():
    """The (line, column, code) of a rejection, in order."""
    def read(rejected):
        return [(error.line, error.column, error.code) for error in rejected.errors]
    return read
