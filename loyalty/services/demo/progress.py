"""Progress lines while the demo loads (`make run` shows them): written and flushed at once,
so that a terminal or a pipe sees each phase as it starts."""

from __future__ import annotations


def say(stdout, message: str) -> None:
    if stdout is None:
        return
    stdout.write(message if message.endswith("\n") else message + "\n")
    if hasattr(stdout, "flush"):
        stdout.flush()
