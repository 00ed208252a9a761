"""Reading an import file: a CSV with a header row, streamed, every row with its line number.

The file is read as UTF-8 (a byte-order mark, as Excel writes, is fine), one
physical line at a time and never more than `MAX_LINE_CHARS` of it, so that
memory does not grow with the file, nor with a file that is one huge line.
The delimiter is the one the header uses: a comma, a semicolon (a French
Excel's "CSV") or a tab. Column names are matched without regard to case or
surrounding spaces; columns the import does not know are ignored.

What can go wrong is collected as `RowError`s (line, column, stable code, params):
the first `MAX_REPORTED_ERRORS` by line are kept, and all are counted. An error is
data; its message is rendered when it is read, in the reader's language (messages.py).
"""

from __future__ import annotations

import contextlib
import csv
import io
import operator
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.services.errors import DomainError
from loyalty.services.imports.messages import render

Source = bytes | memoryview | str | os.PathLike  # a file's content, or its path
MAX_REPORTED_ERRORS = 100
MAX_LINE_CHARS = 64 * 1024
DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True, order=True)
class RowError:
    line: int
    column: str
    code: str
    params: dict = field(default_factory=dict, compare=False, hash=False)
    stored_message: str = field(default="", compare=False)  # a job stored before codes

    @property
    def message(self) -> str:
        """What is wrong, in the active language."""
        if self.stored_message and not self.params:
            return self.stored_message
        return render(self.code, self.params)

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "code": self.code,
                "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict) -> RowError:
        return cls(line=int(data.get("line") or 0), column=str(data.get("column") or ""),
                   code=str(data.get("code") or ""), params=dict(data.get("params") or {}),
                   stored_message=str(data.get("message") or ""))

    def __str__(self) -> str:
        where = _("line %(line)d") % {"line": self.line}
        return (f"{where}: {self.column}: {self.message}" if self.column
                else f"{where}: {self.message}")


class ErrorList:
    """The first errors by line number, and how many there were in all."""

    def __init__(self, limit: int = MAX_REPORTED_ERRORS):
        self.limit = limit
        self.count = 0
        self._kept: list[RowError] = []

    def add(self, line: int, column: str, code: str, params: dict | None = None) -> None:
        self.count += 1
        self._kept.append(RowError(line, column, code, params or {}))
        if len(self._kept) >= 4 * self.limit:
            self._kept = sorted(self._kept)[: self.limit]

    @property
    def first(self) -> list[RowError]:
        self._kept = sorted(self._kept)[: self.limit]
        return list(self._kept)

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count


class ImportRejected(DomainError):
    """The file has bad rows (or is no CSV at all): nothing of it was written."""

    code = "import_rejected"
    default_message = gettext_lazy("The file was rejected: nothing was imported.")

    def __init__(self, errors: ErrorList):
        self.errors = errors.first
        self.error_count = errors.count
        super().__init__(fields={"errors": [error.as_dict() for error in self.errors],
                                 "error_count": self.error_count})

    def report_lines(self) -> list[str]:
        """The errors as lines for a terminal: the first ones, then how many more."""
        lines = [str(error) for error in self.errors]
        more = self.error_count - len(self.errors)
        if more > 0:
            lines.append(_("... and %(count)d more") % {"count": more})
        return lines


class Row:
    """One record of the file: its first line, its fields as typed, and the known columns."""

    __slots__ = ("line", "fields", "values")

    def __init__(self, line: int, fields: list[str], values: dict[str, str]):
        self.line, self.fields, self.values = line, fields, values


class FileFormatError(Exception):
    def __init__(self, line: int, code: str, params: dict | None = None):
        self.line, self.code, self.params = line, code, params or {}
        super().__init__(code)


class CsvFile:
    """The rows of a CSV import file, read lazily.

    `header` (the columns as written) and `columns` (the known ones, by
    position) are read when the object is made; iterating yields `Row`s and
    records bad rows in `errors`. A problem that makes the rest of the file
    unreadable (not UTF-8, binary, a line too long, broken quoting) is
    recorded once, and reading stops there.
    """

    def __init__(self, source: BinaryIO, *, required: Sequence[str],
                 optional: Sequence[str] = (), errors: ErrorList):
        self.errors = errors
        self.header: list[str] = []
        self.columns: dict[int, str] = {}
        self.ignored: list[str] = []
        self.delimiter = ","
        self._lines_read = 0
        self._source = source
        self._ok = self._read_header(required, optional)

    @property
    def ok(self) -> bool:
        """The header was read and names every required column."""
        return self._ok

    # --- physical lines ---------------------------------------------------------------------

    def _physical_lines(self) -> Iterator[str]:
        # Bytes, line by line, decoded one line at a time: a decoding error names its line.
        while True:
            raw = self._source.readline(MAX_LINE_CHARS + 1)
            if not raw:
                return
            self._lines_read += 1
            if len(raw) > MAX_LINE_CHARS and not raw.endswith(b"\n"):
                raise FileFormatError(self._lines_read, "line_too_long",
                                      {"max": MAX_LINE_CHARS})
            try:
                line = raw.decode("utf-8-sig" if self._lines_read == 1 else "utf-8")
            except UnicodeDecodeError:
                raise FileFormatError(self._lines_read, "not_utf8") from None
            if "\x00" in line:
                raise FileFormatError(self._lines_read, "binary")
            yield line

    # --- the header -------------------------------------------------------------------------

    def _read_header(self, required: Sequence[str], optional: Sequence[str]) -> bool:
        self._lines = self._physical_lines()
        try:
            first = next((line for line in self._lines if line.strip()), None)
        except FileFormatError as problem:
            self.errors.add(problem.line, "", problem.code, problem.params)
            return False
        if first is None:
            self.errors.add(1, "", "empty_file")
            return False
        header_line = self._lines_read
        delimiter = max(DELIMITERS, key=first.count)
        if not first.count(delimiter):
            delimiter = ","
        self.delimiter = delimiter
        self._reader = csv.reader(self._chain(first), delimiter=delimiter, strict=True)
        try:
            self.header = next(self._reader)
        except csv.Error as problem:
            self.errors.add(header_line, "", "malformed_csv", {"problem": str(problem)})
            return False
        names = [name.strip().lower() for name in self.header]
        known = set(required) | set(optional)
        seen: set[str] = set()
        for position, name in enumerate(names):
            if name in known:
                if name in seen:
                    self.errors.add(header_line, name, "duplicate_column")
                seen.add(name)
                self.columns[position] = name
            elif name:
                self.ignored.append(self.header[position].strip())
        missing = [name for name in required if name not in seen]
        if missing:
            self.errors.add(header_line, "", "missing_columns", {
                "columns": ", ".join(missing), "required": ",".join(required)})
        return not self.errors

    def _chain(self, first: str) -> Iterator[str]:
        yield first
        yield from self._lines

    # --- rows -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Row]:
        if not self._ok:
            return
        width = len(self.header)
        names = tuple(self.columns.values())
        pick = operator.itemgetter(*self.columns)
        if len(names) == 1:
            pick = (lambda get: lambda fields: (get(fields),))(pick)
        strip = str.strip
        reader = self._reader
        while True:
            line = self._lines_read + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except FileFormatError as problem:
                self.errors.add(problem.line, "", problem.code, problem.params)
                return
            except csv.Error as problem:
                self.errors.add(line, "", "malformed_csv", {"problem": str(problem)})
                return
            if len(fields) != width:
                if not any(field.strip() for field in fields):
                    continue  # a blank line
                if len(fields) < width or any(field.strip() for field in fields[width:]):
                    self.errors.add(line, "", "column_count", {
                        "expected": width, "found": len(fields)})
                    continue
            elif not any(fields):
                continue  # a line of empty values
            yield Row(line, fields, dict(zip(names, map(strip, pick(fields)), strict=True)))


def estimate_rows(source: Source) -> int:
    """About how many rows the file has (its lines after the header), for a progress bar."""
    with open_source(source) as stream:
        count = sum(block.count(b"\n") for block in iter(lambda: stream.read(1 << 20), b""))
    return max(count - 1, 0)


@contextlib.contextmanager
def open_source(source: Source) -> Iterator[BinaryIO]:
    """A fresh binary stream over the file: its bytes (an upload), or its path (a command)."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
    else:
        with open(source, "rb") as stream:
            yield stream
