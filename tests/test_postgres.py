"""The PostgreSQL helper does what the book promises: scram, loopback, isolation, clean exits."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import psutil
import psycopg2
import psycopg2.extensions
import pytest

from booktools import embedded, handles, postgres
from booktools.errors import BookToolsError
from booktools.pgwheel import MAJOR_ENV
from booktools.postgres import (
    DEMO_ROLE,
    STATE_ENV,
    Database,
    EmbeddedPostgres,
    Role,
    Server,
    embedded_postgres,
    interactive_instance,
    runtime_root,
    server_from_url,
)


def admin_url(server: Server) -> str:
    from sqlalchemy.engine import URL

    return URL.create(
        "postgresql", username=server.admin_user, password=server.admin_password,
        host=server.host, port=server.port, database=server.admin_database,
    ).render_as_string(hide_password=False)


def connect(database: Database, role: Role) -> psycopg2.extensions.connection:
    return psycopg2.connect(
        host=database.server.host, port=database.server.port, dbname=database.name,
        user=role.name, password=role.password, connect_timeout=5,
    )


def test_wrong_password_is_refused(database: Database) -> None:
    connect(database, DEMO_ROLE).close()
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        connect(database, Role(DEMO_ROLE.name, "not-the-password"))


def test_masked_password_is_refused(database: Database) -> None:
    """The pitfall the book is about: SQLAlchemy's *** is not the password."""
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        connect(database, Role(DEMO_ROLE.name, "***"))


def test_databases_are_isolated(server: Server) -> None:
    first = server.fresh_database(f"iso_a_{os.getpid()}")
    second = server.fresh_database(f"iso_b_{os.getpid()}")
    with contextlib.closing(connect(first, DEMO_ROLE)) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE only_in_first (id int)")
        connection.commit()
    with contextlib.closing(connect(second, DEMO_ROLE)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'")
        assert cursor.fetchone() == (0,)
    again = server.fresh_database(f"iso_a_{os.getpid()}")
    with contextlib.closing(connect(again, DEMO_ROLE)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'")
        assert cursor.fetchone() == (0,), "fresh_database must start from an empty database"
    server.drop_database(again)
    server.drop_database(second)


def test_only_book_databases_are_dropped(server: Server) -> None:
    """Pointing DATABASE_URL at a real server must never cost it a database."""
    made = server.fresh_database("postgres")
    assert made.name == "book_postgres"
    server.drop_database(made)
    with pytest.raises(BookToolsError, match="Refusing to drop 'postgres'"):
        server.drop_database(Database(server, "postgres", DEMO_ROLE))


def test_database_url_is_honoured(server: Server) -> None:
    """With DATABASE_URL set, the helper uses that server and starts nothing."""
    code = (
        "import json; from booktools.postgres import get_server; s = get_server(); "
        "print(json.dumps([s.host, s.port, s.embedded]))"
    )
    environ = {k: v for k, v in os.environ.items() if k != STATE_ENV}
    environ["DATABASE_URL"] = admin_url(server)
    completed = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True,
                               timeout=30, check=True)
    assert json.loads(completed.stdout) == [server.host, server.port, False]


def test_unreachable_database_url_names_host_and_port_fast() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(BookToolsError, match=f"127.0.0.1:{port}"):
        server_from_url(f"postgresql://someone:secret@127.0.0.1:{port}/db")
    # The README's promise, not a measurement: twice the 5 s connect timeout.
    assert time.monotonic() - started < 10


@contextlib.contextmanager
def occupied_port() -> Iterator[int]:
    """A loopback port where something listens but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_silent_server_times_out_within_10_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts connections but never speaks PostgreSQL must not hang.

    The README promises an answer within 10 s: twice the connect timeout, which the test
    shortens to 2 s (libpq's least) so as not to sit idle for 5.
    """
    assert handles.CONNECT_TIMEOUT_S * 2 <= 10
    for module in (handles, postgres):
        monkeypatch.setattr(module, "CONNECT_TIMEOUT_S", 2)
    with occupied_port() as port:
        started = time.monotonic()
        with pytest.raises(BookToolsError, match=f"127.0.0.1:{port}"):
            server_from_url(f"postgresql://someone:secret@127.0.0.1:{port}/db")
        # The README's promise (10 s), not twice the shortened timeout: on a loaded machine the
        # error's own handling may take a second or two beyond the timeout.
        assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://user:pw@localhost/db", "must point at PostgreSQL"),
        ("localhost:5432", "must point at PostgreSQL"),
        ("postgresql://user:pw@localhost:notaport/db", "malformed"),
        ("postgresql:///db", "names no host"),
        ("postgresql://localhost:5432/db", "names no user"),
    ],
)
def test_malformed_database_url_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(BookToolsError, match=says):
        server_from_url(url)


class OwnServer(NamedTuple):
    instance: EmbeddedPostgres
    start_seconds: float
    """How long ``embedded_postgres()`` took to hand it over: the fresh-start side of a ratio guard."""


@pytest.fixture(scope="module")
def own_embedded() -> Iterator[OwnServer]:
    """A server of this module's own, so its process can be inspected and stopped."""
    started = time.monotonic()
    with embedded_postgres() as instance:
        yield OwnServer(instance, time.monotonic() - started)


def test_embedded_server_listens_on_loopback_only_with_scram(own_embedded: OwnServer) -> None:
    own, _ = own_embedded
    server = own.attach()
    assert server is not None
    state = json.loads(own.state_file.read_text())
    listening = [c.laddr for c in psutil.Process(state["pid"]).net_connections("all") if c.status == "LISTEN"]
    assert listening, "the postmaster should listen somewhere"
    assert {address.ip for address in listening} == {"127.0.0.1"}, listening
    with contextlib.closing(server.connect_admin()) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW unix_socket_directories")
        assert cursor.fetchone() == ("",)
        cursor.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
        assert {row[0] for row in cursor.fetchall()} == {"scram-sha-256"}
    if os.geteuid() == 0:
        assert psutil.Process(state["pid"]).username() != "root"


def test_running_server_is_reused_not_started_again(own_embedded: OwnServer) -> None:
    own, _ = own_embedded
    pid_before = json.loads(own.state_file.read_text())["pid"]
    server = EmbeddedPostgres(own.directory).attach()
    assert server is not None and server.port == json.loads(own.state_file.read_text())["port"]
    server.connect_admin().close()
    assert json.loads(own.state_file.read_text())["pid"] == pid_before


@pytest.mark.ratio_guard
def test_reusing_a_server_is_far_cheaper_than_starting_one(own_embedded: OwnServer) -> None:
    """Generous ratio guard, not a measurement (benchmarks/ measures): reuse ≈ 15 ms, a start ≈ 300 ms.

    Fails only if attaching did something as slow as a start (initdb, a copy, a launch).
    """
    own, start_seconds = own_embedded
    started = time.monotonic()
    server = EmbeddedPostgres(own.directory).attach()
    assert server is not None
    server.connect_admin().close()
    reuse_seconds = time.monotonic() - started
    assert reuse_seconds <= 0.5 * start_seconds, f"reuse {reuse_seconds:.3f} s vs start {start_seconds:.3f} s"


def test_busy_port_gets_a_clear_message() -> None:
    with occupied_port() as port:
        with pytest.raises(BookToolsError, match=f"Port {port} on 127.0.0.1 is already in use"):
            with embedded_postgres(port=port):
                pass


def test_nothing_is_left_running() -> None:
    with embedded_postgres() as instance:
        pid = json.loads(instance.state_file.read_text())["pid"]
        assert psutil.pid_exists(pid)
        children = psutil.Process(pid).children(recursive=True)
    assert not psutil.pid_exists(pid)
    assert not any(child.is_running() for child in children)
    assert not instance.directory.exists()


def test_a_new_server_starts_from_the_template_without_initdb(monkeypatch: pytest.MonkeyPatch) -> None:
    """What makes a new server faster than bare initdb + start (benchmarks/ measures by how much):
    initdb runs once per account and major, for the template; every server after it is a copy."""
    with embedded_postgres():
        pass  # makes the template, if this account has none yet

    def no_initdb(*args: object) -> str:
        raise AssertionError("initdb ran again: new servers are not copied from the template")

    monkeypatch.setattr(embedded, "_initdb", no_initdb)
    with embedded_postgres() as instance:
        assert instance.attach() is not None


def test_interactive_server_is_reused_and_stopped_by_one_command() -> None:
    """`python -m booktools start` twice gives one server; `stop` ends it."""
    home = Path(tempfile.mkdtemp(dir="/tmp"))
    home.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k not in (STATE_ENV, "DATABASE_URL")}
    environ["TMPDIR"] = str(home)

    def booktools(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "booktools", *args], env=environ, capture_output=True,
                              text=True, timeout=60, check=True).stdout

    try:
        first = booktools("start")
        state_file = next(home.glob("booktools-pg-*/interactive/state.json"))
        first_pid = json.loads(state_file.read_text())["pid"]
        second = booktools("start")
        assert first == second and "embedded" in first
        state = json.loads(state_file.read_text())
        assert state["pid"] == first_pid, "a second start must reuse the running server"
        assert "running on 127.0.0.1:" in booktools("status")
        assert psutil.pid_exists(state["pid"])
        assert booktools("stop") == "embedded PostgreSQL: stopped\n"
        deadline = time.monotonic() + 60  # a hang guard: stop itself waits until the server is gone
        while psutil.pid_exists(state["pid"]) and psutil.Process(state["pid"]).status() != "zombie":
            assert time.monotonic() < deadline, "postgres still running after stop"
            time.sleep(0.05)
        assert booktools("status") == "embedded PostgreSQL: not running\n"
    finally:
        subprocess.run([sys.executable, "-m", "booktools", "stop"], env=environ, capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(home)], check=False)


def test_pg_major_16_runs_postgresql_16_from_a_template_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOOKTOOLS_PG_MAJOR=16 runs the wheel's PostgreSQL 16; 18's data is never handed to it."""
    monkeypatch.setenv(MAJOR_ENV, "16")
    directory = Path(tempfile.mkdtemp(dir=runtime_root()))
    directory.chmod(0o711)
    sixteen = EmbeddedPostgres(directory)
    try:
        server = sixteen.start()
        with contextlib.closing(server.connect_admin()) as connection, connection.cursor() as cursor:
            cursor.execute("SHOW server_version_num")
            row = cursor.fetchone()
        assert row is not None and int(row[0]) // 10000 == 16
        assert (sixteen.data_dir / "PG_VERSION").read_text().strip() == "16"
        assert list(runtime_root().glob("template-pg16-*/data")), "16 has a template cluster of its own"
        sixteen.stop()
        with pytest.raises(BookToolsError, match=f"holds PostgreSQL 16 data, but {MAJOR_ENV} asks for 18"):
            EmbeddedPostgres(directory, pg_major=18).start()
    finally:
        sixteen.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_each_major_has_its_own_interactive_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAJOR_ENV, raising=False)
    assert (interactive_instance().directory.name, interactive_instance().major) == ("interactive", 18)
    monkeypatch.setenv(MAJOR_ENV, "16")
    assert (interactive_instance().directory.name, interactive_instance().major) == ("interactive-pg16", 16)


@pytest.mark.parametrize("value", ["17", "15", "eighteen", "18.4"])
def test_unknown_pg_major_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(MAJOR_ENV, value)
    with pytest.raises(BookToolsError, match=rf"{MAJOR_ENV}='{value}', but .* ships PostgreSQL 16 or 18 only"):
        with embedded_postgres():
            pass
