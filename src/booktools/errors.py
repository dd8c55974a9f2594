"""The exceptions the helpers raise on purpose: one family, ``BookToolsError``."""

from __future__ import annotations

import re

EXIT_TIME_WARNING = re.compile(r"^(sys:1: |<sys>:0: )?\w*Warning: ")
"""A warning line Python 3.12+ prints as it exits, after the traceback (3.11 prints it before)."""


class BookToolsError(Exception):
    """A helper could not do what was asked.

    The message is all there is to it: what was checked, what was found (a host
    and port, the tail of a server log), and how to fix it.
    """


class CommandFailed(BookToolsError):
    """A command a notebook ran exited non-zero; shown as the command's own (trimmed) traceback."""

    def __init__(self, command: str, returncode: int, lines: list[str]) -> None:
        # The summary is the error itself, wherever this Python prints its warnings.
        last = next(
            (line for line in reversed(lines) if line.strip() and not EXIT_TIME_WARNING.match(line)),
            "(no output)",
        )
        super().__init__(f"`{command}` exited with status {returncode}: {last}")
        self.command = command
        self.returncode = returncode
        self.lines = lines

    def _render_traceback_(self) -> list[str]:
        return [*self.lines, f"[`{self.command}` exited with status {self.returncode}]"]
