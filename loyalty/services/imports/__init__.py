"""Imports of history: a shop's purchases, and members moving from another programme.

Both read a CSV streamed in chunks, check every row before writing anything,
and write all of a file or nothing of it; importing a file again adds nothing.
"""

from loyalty.services.imports.csvfile import ImportRejected, RowError
from loyalty.services.imports.progress import Progress, TerminalProgress

__all__ = ["ImportRejected", "Progress", "RowError", "TerminalProgress"]
