"""pytest plugin: no notebook cell may print the admin password of the run's server.

nbval re-executes every notebook cell by cell; after each cell its fresh outputs (streams,
displayed data, errors and their tracebacks) sit on the item as ``test_outputs``. This plugin
searches them for the admin password of the server the run uses: ``DATABASE_URL``'s, or the
embedded server's generated one. A cell that printed it would fail, before the password could
be stored in a notebook and published with the book. Checking during the suite's own run costs
nothing; a second run of every notebook against a canary password would double the suite.

Register it with ``pytest_plugins`` (or ``-p tests.plugin_secrets``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Generator, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from booktools.postgres import get_server

SHORTEST_CHECKED = 12
"""A shorter password (``postgres``, ``secret``) also occurs in ordinary output: it cannot be told apart."""


class PasswordPrinted(Exception):
    """A cell's output holds the admin password; nbval reports it as the cell's failure."""


def spellings(password: str) -> frozenset[str]:
    """The ways a password is written into a URL or a config file: as is, URL-encoded, ``%``-escaped."""
    return frozenset(
        form
        for form in (password, quote(password, safe=""), quote_plus(password), password.replace("%", "%%"))
        if len(form) >= SHORTEST_CHECKED
    )


@functools.cache
def watched() -> frozenset[str]:
    """The spellings of this run's admin password (asked once per process: workers too)."""
    password = get_server().admin_password
    if len(password) < SHORTEST_CHECKED:
        warnings.warn(
            f"The admin password is shorter than {SHORTEST_CHECKED} characters: notebook outputs are "
            "not searched for it. Give DATABASE_URL a long, generated password to check them.",
            stacklevel=1,
        )
        return frozenset()
    return spellings(password)


def _texts(output: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(where, text) for every piece of text in one nbformat output."""
    kind = str(output.get("output_type", "output"))
    if "text" in output:
        yield f"{kind} {output.get('name', '')}".strip(), str(output["text"])
    for mime, value in dict(output.get("data") or {}).items():
        yield f"{kind} {mime}", value if isinstance(value, str) else "".join(map(str, value))
    for key in ("ename", "evalue"):
        if key in output:
            yield f"{kind} {key}", str(output[key])
    for line in output.get("traceback") or []:
        yield f"{kind} traceback", str(line)


def leaks(outputs: Iterable[Mapping[str, Any]], secrets: Iterable[str]) -> list[str]:
    """Where the outputs hold a secret; each line quoted with the secret blanked out."""
    secrets = sorted(secrets, key=len, reverse=True)
    found = []
    for output in outputs:
        for where, text in _texts(output):
            for line in text.splitlines():
                if any(secret in line for secret in secrets):
                    for secret in secrets:
                        line = line.replace(secret, "<PASSWORD>")
                    found.append(f"{where}: {line.strip()}")
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    try:
        return (yield)
    finally:
        outputs = getattr(item, "test_outputs", None)
        if outputs:
            found = leaks(outputs, watched())
            if found:
                raise PasswordPrinted(
                    "this cell printed the admin password of the run's server (shown here as "
                    "<PASSWORD>); print a URL with render_as_string() (password masked) or a Database "
                    "helper instead:\n" + "\n".join(found)
                )
