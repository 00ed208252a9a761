"""How far an import has got: a terminal's progress bar, or a staff page's job.

An import reports phases ("checking", then "writing") with an expected total
of rows, and advances through them. The services take any object with these
three methods; `Progress()` itself reports nothing.
"""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """Reports nothing: the default."""

    def start(self, phase: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def close(self) -> None:
        pass


class TerminalProgress(Progress):
    """A tqdm bar (rows/s, ETA) on a terminal; silent when the stream is not one."""

    PHASES = {"checking": "checking", "writing": "writing"}

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = None

    def start(self, phase: str, total: int | None) -> None:
        self.close()
        if self.enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total or None, desc=self.PHASES.get(phase, phase),
                            unit=" rows", unit_scale=True, file=self.stream, leave=True,
                            dynamic_ncols=True, mininterval=0.5)

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
