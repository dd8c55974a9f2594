"""The one exception the helpers raise on purpose."""

from __future__ import annotations


class BookToolsError(Exception):
    """A helper could not do what was asked.

    The message says what was checked and how to fix it; ``context`` carries
    the facts behind it (a host, a port, the tail of a server log).
    """

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.context = context
