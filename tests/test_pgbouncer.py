"""Chapter 22's PgBouncer claims, checked against a real PgBouncer in transaction pooling mode.

Behind a transaction-mode pooler, asyncpg's named prepared statements (``__asyncpg_stmt_N__``,
numbered by one counter per process) stay on server connections that clients of other
processes (an app's other workers) are lent next. The chapter
says ``?prepared_statement_cache_size=0`` (SQLAlchemy's own cache) does not stop that, and that
asyncpg's ``statement_cache_size=0``, or SQLAlchemy's recipe (unique names, ``NullPool``), does.
Each test starts its own PgBouncer (Debian package ``pgbouncer``) on loopback in front of the
run's PostgreSQL, runs a few rounds of concurrent transactions through it, and stops it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from booktools.pgwheel import as_runner, runner
from booktools.postgres import Database

PGBOUNCER = shutil.which("pgbouncer", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
pytestmark = pytest.mark.skipif(
    PGBOUNCER is None, reason="pgbouncer is not installed (Debian/Ubuntu: apt-get install pgbouncer)"
)

READY_TIMEOUT_S = 10
PROCESSES = 4
CLIENTS = 4
TRANSACTIONS = 5
ROUNDS = 3
"""Each process runs at most ROUNDS rounds of CLIENTS concurrent clients of TRANSACTIONS each."""
URL_ENV = "BOOKTOOLS_PGBOUNCER_URL"

CLASHES = re.compile(
    r'prepared statement "__asyncpg_stmt_\w+__" (already exists|does not exist)'
    # the defaults only: a statement SQLAlchemy's cache kept, bound on a server connection
    # where another process's statement of the same name lives
    r'|bind message supplies \d+ parameters?, but prepared statement "__asyncpg_stmt_\w+__" requires \d+'
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(database: Database, directory: Path, port: int) -> str:
    server = database.server
    return f"""\
[databases]
{database.name} = host={server.host} port={server.port} dbname={database.name}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
; no Unix socket: loopback TCP only
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {directory / "userlist.txt"}
pool_mode = transaction
; fewer server connections than clients, so clients share them
default_pool_size = 2
max_client_conn = 50
""" + _tracking_off()


def _tracking_off() -> str:
    """PgBouncer 1.21+ can track prepared statements itself (1.24+ by default): keep that off.

    Without tracking is the setting the chapter is about; 1.18 stops on the unknown key.
    """
    assert PGBOUNCER is not None
    banner = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"PgBouncer (\d+)\.(\d+)", banner)
    assert found, banner
    if (int(found[1]), int(found[2])) < (1, 21):
        return ""
    return "max_prepared_statements = 0\n"


@pytest.fixture
def pooled_url(database: Database) -> Iterator[URL]:
    """An asyncpg URL to ``database`` through a PgBouncer in transaction mode, stopped afterwards."""
    assert PGBOUNCER is not None
    account = runner()  # as root, PgBouncer runs as the account PostgreSQL runs as
    with tempfile.TemporaryDirectory(prefix="booktools-pgbouncer-") as folder:
        directory = Path(folder)
        port = _free_port()
        role = database.owner
        # The plain password: PgBouncer derives the SCRAM exchange with both sides from it.
        (directory / "userlist.txt").write_text(f'"{role.name}" "{role.password}"\n')
        (directory / "pgbouncer.ini").write_text(_config(database, directory, port))
        if account is not None:
            for path in (directory, *directory.iterdir()):
                os.chown(path, account.pw_uid, account.pw_gid)
        log_path = directory / "pgbouncer.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [PGBOUNCER, str(directory / "pgbouncer.ini")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **as_runner(account),
            )
        try:
            _wait_listening(process, port, log_path)
            yield URL.create(
                "postgresql+asyncpg", username=role.name, password=role.password,
                host="127.0.0.1", port=port, database=database.name,
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    pytest.fail(f"pgbouncer did not listen on {port} within {READY_TIMEOUT_S} s:\n{log_path.read_text()}")


async def _client(engine: AsyncEngine, number: int) -> list[str]:
    errors = []
    for transaction in range(TRANSACTIONS):
        try:
            async with engine.begin() as connection:
                await connection.execute(text("SELECT CAST(:a AS integer) + CAST(:b AS integer)"),
                                         {"a": number, "b": transaction})
                await connection.execute(text("SELECT CAST(:a AS text)"), {"a": str(number)})
        except DBAPIError as error:
            errors.append(str(error.orig))
    return errors


SETTINGS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "defaults": ({}, {}),
    "url prepared_statement_cache_size=0": ({"prepared_statement_cache_size": "0"}, {}),
    "connect_args statement_cache_size=0": ({}, {"connect_args": {"statement_cache_size": 0}}),
    "recipe: unique names, NullPool": (
        {},
        {"poolclass": NullPool, "connect_args": {"prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__"}},
    ),
}
"""The URL query and the engine options of each setting the chapter compares."""


async def _errors(url: URL, setting: str) -> list[str]:
    """One process's concurrent clients, round after round; stops after the first round with an error."""
    query, options = SETTINGS[setting]
    engine = create_async_engine(url.update_query_dict(query), **options)
    try:
        for _ in range(ROUNDS):
            rounds = await asyncio.gather(*(_client(engine, number) for number in range(CLIENTS)))
            errors = [error for client in rounds for error in client]
            if errors:
                return errors
        return []
    finally:
        await engine.dispose()


def _errors_of_processes(url: URL, setting: str) -> list[str]:
    """Run ``_errors`` in PROCESSES processes at once, as several app workers would.

    asyncpg numbers its statement names with one counter per process, so only clients in
    different processes can pick the same name.
    """
    environ = {**os.environ, URL_ENV: url.render_as_string(hide_password=False)}
    processes = [
        subprocess.Popen([sys.executable, __file__, setting], env=environ, stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    errors = []
    for process in processes:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"a client process exited with {process.returncode}"
        errors.extend(json.loads(output))
    return errors


@pytest.mark.parametrize("setting", ["defaults", "url prepared_statement_cache_size=0"])
def test_these_settings_clash_behind_pgbouncer(pooled_url: URL, setting: str) -> None:
    errors = _errors_of_processes(pooled_url, setting)
    assert errors, f"no error from {PROCESSES} processes of {CLIENTS} concurrent clients"
    assert all(CLASHES.search(error) for error in errors), errors


@pytest.mark.parametrize("setting", ["connect_args statement_cache_size=0", "recipe: unique names, NullPool"])
def test_these_settings_work_behind_pgbouncer(pooled_url: URL, setting: str) -> None:
    assert _errors_of_processes(pooled_url, setting) == []


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_errors(make_url(os.environ[URL_ENV]), sys.argv[1]))))
