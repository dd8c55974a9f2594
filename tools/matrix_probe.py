"""pytest plugin of the version matrix (``noxfile.py``): record what a run really ran on.

Loaded with ``-p tools.matrix_probe``. When the run ends it writes, to the JSON file that
``MATRIX_RECORD`` names, the releases installed and the version of the PostgreSQL server the
tests used, read from the server itself: a session named "PostgreSQL 16" that reached an 18
must not pass for a 16. Without ``MATRIX_RECORD`` it does nothing.
"""

from __future__ import annotations

import json
import os
import platform
from contextlib import closing
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

RECORD_ENV = "MATRIX_RECORD"
PACKAGES = ("sqlalchemy", "alembic", "greenlet", "asyncpg", "psycopg2-binary", "psycopg")


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    record = os.environ.get(RECORD_ENV)
    if not record or hasattr(session.config, "workerinput"):
        return
    from booktools.notebook import get_server

    with closing(get_server().connect_admin()) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    Path(record).write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "postgresql": row[0].split()[0] if row else None,
                "server": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded",
                "packages": {name: _installed(name) for name in PACKAGES},
            },
            indent=2,
        )
        + "\n"
    )
