"""What the book says differs between Python versions, checked on the Python running the tests.

CI runs the suite on every version from 3.11 to the newest, so each branch below is
checked where it applies.
"""

from __future__ import annotations

import subprocess
import sys

from booktools.errors import CommandFailed

REPRODUCTION = (
    "from sqlalchemy import create_engine; "
    "create_engine('postgresql+asyncpg://user:secret@127.0.0.1:9/db').connect()"
)
"""A synchronous engine on the asyncpg dialect: MissingGreenlet before any network IO."""

NEVER_AWAITED = "RuntimeWarning: coroutine 'connect' was never awaited"


def test_the_never_awaited_warning_prints_where_chapter_1_says() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", REPRODUCTION],
        capture_output=True, text=True, check=False, env={"PYTHONUNBUFFERED": "1", "PYTHON_COLORS": "0"},
        timeout=60,
    )
    lines = completed.stderr.splitlines()
    error = next(i for i, line in enumerate(lines) if line.startswith("sqlalchemy.exc.MissingGreenlet: "))
    warning = next(i for i, line in enumerate(lines) if NEVER_AWAITED in line)
    if sys.version_info >= (3, 12):
        assert warning > error, "3.12+ prints the warning after the traceback, as Python exits"
        assert lines[warning].startswith("sys:1: " if sys.version_info < (3, 13) else "<sys>:0: ")
    else:
        assert warning < error, "3.11 prints the warning above the traceback"
        assert lines[warning].startswith("sqlalchemy/") or "concurrency.py" in lines[warning]


def test_a_failed_command_is_summed_up_by_its_error_not_a_warning_printed_after_it() -> None:
    lines = [
        "sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called",
        "sys:1: RuntimeWarning: coroutine 'connect' was never awaited",
        "RuntimeWarning: Enable tracemalloc to get the object allocation traceback",
    ]
    failed = CommandFailed("alembic current", 1, lines)
    assert str(failed).endswith(": sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called")
