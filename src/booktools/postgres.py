"""PostgreSQL for every notebook and test: your server, or one we start.

``get_server()`` picks, in order:

1. ``DATABASE_URL`` (``postgresql://user:password@host:port/dbname``): that server.
2. ``BOOKTOOLS_PG_STATE``: the server a test run started (see ``pytest_plugin``).
3. The interactive embedded server, started on first use and reused by every
   notebook until ``python -m booktools stop``.

This is the module notebooks and tests import from: it also re-exports the handles
(``booktools.handles``) and the embedded servers (``booktools.embedded``).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

from booktools.embedded import EmbeddedPostgres, embedded_postgres, interactive_instance
from booktools.errors import BookToolsError
from booktools.handles import CONNECT_TIMEOUT_S, DEMO_ROLE, SPECIAL_ROLE, Database, Driver, Role, Server
from booktools.paths import locked, runtime_root

__all__ = [
    "DEMO_ROLE",
    "SPECIAL_ROLE",
    "STATE_ENV",
    "Database",
    "Driver",
    "EmbeddedPostgres",
    "Role",
    "Server",
    "embedded_postgres",
    "get_server",
    "interactive_instance",
    "runtime_root",
    "server_from_url",
]

STATE_ENV = "BOOKTOOLS_PG_STATE"
"""A test run's embedded server: the folder holding its state file (set by ``pytest_plugin``)."""


def server_from_url(url: str) -> Server:
    """Check a ``postgresql://`` URL and that its server answers; fail fast and clearly."""
    expected = "expected postgresql://user:password@host:port/dbname"
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 5432
    except ValueError as error:
        raise BookToolsError(f"DATABASE_URL is malformed ({error}); {expected}.") from error
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise BookToolsError(
            f"DATABASE_URL must point at PostgreSQL, got scheme {parts.scheme or '(none)'!r}; {expected}."
        )
    if not parts.hostname:
        raise BookToolsError(f"DATABASE_URL names no host; {expected}.")
    if not parts.username:
        raise BookToolsError(f"DATABASE_URL names no user; {expected}.")
    host = parts.hostname
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise BookToolsError(
            f"Nothing answers at {host}:{port} (from DATABASE_URL): {error}. Is the server up, "
            "and are host and port right? Unset DATABASE_URL to use the embedded server."
        ) from error
    server = Server(
        host=host,
        port=port,
        admin_user=unquote(parts.username),
        admin_password=unquote(parts.password or ""),
        admin_database=unquote(parts.path.lstrip("/")) or "postgres",
        embedded=False,
    )
    server.connect_admin().close()
    return server


def get_server() -> Server:
    """The server this process should use (see the module docstring).

    Not cached: each call checks again (milliseconds), so a notebook re-run after
    ``python -m booktools stop`` gets a running server instead of a stale address.
    """
    if os.environ.get("DATABASE_URL"):
        return server_from_url(os.environ["DATABASE_URL"])
    if os.environ.get(STATE_ENV):
        instance = EmbeddedPostgres(Path(os.environ[STATE_ENV]))
        attached = instance.attach()
        if attached is None:
            raise BookToolsError(
                f"{STATE_ENV} points at {instance.directory}, but no server runs there. "
                f"Unset {STATE_ENV} to start one.",
            )
        return attached
    instance = interactive_instance()
    with locked(runtime_root() / f"{instance.directory.name}.lock"):
        return instance.attach() or instance.start()
