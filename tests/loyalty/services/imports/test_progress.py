"""The progress bar: on a terminal only."""

import io

from loyalty.services.imports.progress import TerminalProgress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_with_rows_per_second_and_time_left():
    stream = Terminal()
    progress = TerminalProgress(stream)
    progress.start("checking", 1000)
    progress.advance(400)
    progress.close()
    shown = stream.getvalue()
    assert "checking" in shown and "40%" in shown and "rows/s" in shown
    assert "<" in shown  # elapsed<remaining


def test_anything_else_gets_nothing():
    stream = io.StringIO()
    progress = TerminalProgress(stream)
    progress.start("checking", 1000)
    progress.advance(400)
    progress.close()
    assert stream.getvalue() == ""
