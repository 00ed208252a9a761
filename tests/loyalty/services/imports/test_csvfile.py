"""Reading an import file: header, delimiter, line numbers, and files that are not CSV at all."""

import io

import pytest

from loyalty.services.imports.csvfile import (
    MAX_LINE_CHARS,
    CsvFile,
    ErrorList,
    ImportRejected,
    estimate_rows,
)

REQUIRED = ("customer_ref", "order_id")
OPTIONAL = ("email",)


def read(data: bytes):
    errors = ErrorList()
    csv_file = CsvFile(io.BytesIO(data), required=REQUIRED, optional=OPTIONAL, errors=errors)
    rows = [(row.line, row.values) for row in csv_file]
    return csv_file, rows, [(e.line, e.column, e.code) for e in errors.first]


def test_rows_come_with_their_line_numbers_and_known_columns():
    _csv, rows, errors = read(b"customer_ref,order_id,note\nC1,O1,x\n\nC2,O2,y\n")
    assert errors == []
    assert rows == [(2, {"customer_ref": "C1", "order_id": "O1"}),
                    (4, {"customer_ref": "C2", "order_id": "O2"})]


def test_header_names_ignore_case_spaces_and_a_byte_order_mark_and_unknown_columns_are_listed():
    csv_file, rows, errors = read("\ufeff Customer_Ref ;ORDER_ID; Remark\r\nC1;O1;-\r\n".encode())
    assert errors == []
    assert csv_file.delimiter == ";"
    assert rows == [(2, {"customer_ref": "C1", "order_id": "O1"})]
    assert csv_file.ignored == ["Remark"]


def test_tab_separated_files_are_read():
    _csv, rows, _errors = read(b"customer_ref\torder_id\nC1\tO1\n")
    assert rows == [(2, {"customer_ref": "C1", "order_id": "O1"})]


def test_a_quoted_value_over_two_lines_is_one_row_numbered_from_its_first_line():
    _csv, rows, errors = read(b'customer_ref,order_id,email\nC1,"O\n1",\nC2,O2,\n')
    assert errors == []
    assert [line for line, _values in rows] == [2, 4]
    assert rows[0][1]["order_id"] == "O\n1"


@pytest.mark.parametrize("data, expected", [
    (b"", [(1, "", "empty_file")]),
    (b"\n\n  \n", [(1, "", "empty_file")]),
    (b"customer_ref,email\nC1,a@b.fr\n", [(1, "", "missing_columns")]),
    (b"customer_ref,order_id,ORDER_ID\n", [(1, "order_id", "duplicate_column")]),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", [(1, "", "not_utf8")]),
    (b"customer_ref,order_id\nC1,O\x001\n", [(2, "", "binary")]),
    (b"customer_ref,order_id\nC1,O1\nC2,caf\xe9\n", [(3, "", "not_utf8")]),
    (b"customer_ref,order_id\n" + b"x" * (MAX_LINE_CHARS + 10) + b"\n",
     [(2, "", "line_too_long")]),
    (b"customer_ref,order_id\nC1,O1,extra\nC2\nC3,O3,,\n",
     [(2, "", "column_count"), (3, "", "column_count")]),
    (b'customer_ref,order_id\nC1,"O1"x\nC2,O2\n', [(2, "", "malformed_csv")]),
])
def test_what_is_not_a_readable_csv_is_an_error_with_its_line(data, expected):
    _csv, _rows, errors = read(data)
    assert errors == expected


def test_trailing_empty_values_beyond_the_header_are_tolerated():
    _csv, rows, errors = read(b"customer_ref,order_id\nC1,O1,,\n")
    assert errors == [] and rows == [(2, {"customer_ref": "C1", "order_id": "O1"})]


def test_the_first_hundred_errors_by_line_are_kept_and_all_are_counted():
    errors = ErrorList()
    for line in range(250, 0, -1):
        errors.add(line, "amount", "required")
    assert errors.count == 250
    assert [e.line for e in errors.first] == list(range(1, 101))
    rejected = ImportRejected(errors)
    lines = rejected.report_lines()
    assert lines[0] == "line 1: amount: Required."
    assert lines[-1] == "... and 150 more"
    assert len(lines) == 101


def test_the_row_estimate_counts_lines_after_the_header():
    assert estimate_rows(b"h\n1\n2\n3\n") == 3
    assert estimate_rows(b"") == 0
