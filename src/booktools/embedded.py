"""The embedded PostgreSQL executor: a template cluster, and servers started from copies of it.

The binaries come from the wheel (``booktools.pgwheel``). A cluster is initialised with
``scram-sha-256`` and a generated password, and listens on 127.0.0.1 only, with no Unix
socket. ``initdb`` runs once per wheel, major and account, into a template; each server
starts from a copy of it and gets a password of its own (``_rotate_password``).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
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
from pathlib import Path
from typing import Any

from booktools.errors import BookToolsError
from booktools.handles import Server
from booktools.paths import locked, runtime_root, write_private
from booktools.pgwheel import DEFAULT_MAJOR, MAJOR_ENV, as_runner, install_dir, major, runner, wheel_version

READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10


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


def _postmaster(data_dir: Path) -> tuple[int, bool] | None:
    """``postmaster.pid`` read: the postmaster's pid and whether it says it is ready; None without one.

    PostgreSQL writes the pid on line 1 and its status (``ready`` once it accepts
    connections) on line 8; it removes the file as the last step of shutdown.
    """
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    return int(lines[0]), len(lines) >= 8 and lines[7].strip() == "ready"


class _PortTaken(Exception):
    """The randomly picked port was taken before PostgreSQL could bind it (retried, never shown)."""


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``directory``: its data, log and state file."""

    def __init__(
        self, directory: Path, *, port: int | None = None, detach: bool = False, pg_major: int | None = None
    ) -> None:
        self.directory = directory
        self.requested_port = port
        self.detach = detach
        """Run in a session of its own, to outlive the process that started it (notebooks)."""
        self.major = major() if pg_major is None else pg_major
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
        postmaster = _postmaster(self.data_dir)
        if not pid or postmaster is None or postmaster[0] != pid or not _pid_alive(pid):
            return False
        if ready and not postmaster[1]:
            return False
        command_line = Path(f"/proc/{pid}/cmdline")
        return not command_line.exists() or str(self.data_dir).encode() in command_line.read_bytes()

    def start(self) -> Server:
        """Initialise the cluster if needed, start it, and wait until it accepts connections."""
        account = runner()
        install = install_dir(account, self.major)
        self.directory.mkdir(mode=0o711, parents=True, exist_ok=True)
        if account is not None and not all(p.stat().st_mode & 0o001 for p in self.directory.parents):
            raise BookToolsError(
                f"PostgreSQL runs as {account.pw_name!r} (never as root), who cannot enter "
                f"{self.directory}. Point TMPDIR at a folder every user can enter, such as /tmp."
            )
        fresh = not self.data_dir.exists()
        if fresh:
            self._write_state({"password": self._copy_template(install, account), "port": 0, "pid": 0})
        self._check_major()
        state = self._read_state()
        if state is None:
            raise BookToolsError(f"{self.data_dir} exists but its password is lost; remove {self.directory}.")
        server = self._launch_on_a_port(install, account, str(state["password"]))
        return self._rotate_password(server) if fresh else server

    def _check_major(self) -> None:
        """Refuse to run one major's binaries on another's data, before PostgreSQL does it less clearly."""
        try:
            found = (self.data_dir / "PG_VERSION").read_text().strip()
        except FileNotFoundError:
            raise BookToolsError(
                f"{self.data_dir} holds no PostgreSQL cluster (no PG_VERSION); remove {self.directory}."
            ) from None
        if found != str(self.major):
            raise BookToolsError(
                f"{self.data_dir} holds PostgreSQL {found} data, but {MAJOR_ENV} asks for {self.major}. "
                f"Set {MAJOR_ENV}={found}, or stop that server and remove {self.directory}."
            )

    def _launch_on_a_port(self, install: Path, account: pwd.struct_passwd | None, password: str) -> Server:
        if self.requested_port is not None:
            return self._launch(install, account, password, self.requested_port)
        for _ in range(3):
            try:
                return self._launch(install, account, password, _free_port())
            except _PortTaken:
                continue
        raise BookToolsError(
            "Could not find a free port on 127.0.0.1 in three tries: other programs take them as fast as "
            "we pick them. Try again, or pass a port of your choice."
        )

    def _copy_template(self, install: Path, account: pwd.struct_passwd | None) -> str:
        """This cluster's data, copied from the template; returns the template's password."""
        template, password = _template(install, account, self.major)
        shutil.copytree(template, self.data_dir, symlinks=True)
        if account is not None:
            for folder, _, names in os.walk(self.data_dir):
                for path in [folder, *(os.path.join(folder, name) for name in names)]:
                    os.lchown(path, account.pw_uid, account.pw_gid)
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

    def _write_state(self, state: dict[str, Any]) -> None:
        write_private(self.state_file, json.dumps(state))

    def _server(self, state: dict[str, Any]) -> Server:
        return Server(
            host="127.0.0.1",
            port=int(state["port"]),
            admin_user="postgres",
            admin_password=str(state["password"]),
            admin_database="postgres",
            embedded=True,
        )

    def _launch(self, install: Path, account: pwd.struct_passwd | None, password: str, port: int) -> Server:
        if not _port_is_free(port):
            if self.requested_port is None:
                raise _PortTaken
            raise BookToolsError(
                f"Port {port} on 127.0.0.1 is already in use by another program. "
                "Choose another port, or leave it out to pick a free one."
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
                **as_runner(account),
            )
        self._write_state({"password": password, "port": port, "pid": self._process.pid})
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                self._write_state({"password": password, "port": 0, "pid": 0})
                if "Address already in use" in self.log_tail() and self.requested_port is None:
                    raise _PortTaken
                raise BookToolsError(
                    f"PostgreSQL exited while starting. Last lines of {self.log_file}:\n{self.log_tail()}"
                )
            # A postmaster.pid left by a crashed server says "ready" too: check whose it is.
            if _postmaster(self.data_dir) == (self._process.pid, True):
                return self._server({"password": password, "port": port})
            time.sleep(0.005)
        self.stop()
        raise BookToolsError(
            f"PostgreSQL was not ready after {READY_TIMEOUT_S} s (a very busy machine?). "
            f"Last lines of {self.log_file}:\n{self.log_tail()}"
        )


def _initdb(install: Path, account: pwd.struct_passwd | None, target: Path) -> str:
    """A new cluster in ``target``: scram-sha-256, a generated password (returned), UTF-8."""
    password = secrets.token_urlsafe(24)
    staging = target.with_name(target.name + ".initdb")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    password_file = staging / "pwfile"
    write_private(password_file, password + "\n")
    if account is not None:
        os.chown(staging, account.pw_uid, account.pw_gid)
        os.chown(password_file, account.pw_uid, account.pw_gid)
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
        **as_runner(account),
    )
    if result.returncode != 0:
        raise BookToolsError(
            f"initdb failed (exit {result.returncode}) making {target}; its output says why:\n"
            f"{result.stdout}{result.stderr}"
        )
    (staging / "data").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return password


def _template(install: Path, account: pwd.struct_passwd | None, pg_major: int) -> tuple[Path, str]:
    """An initialised cluster to copy, and its password: initdb runs once per wheel, major and account.

    Copying it takes a tenth of initdb's time; each copy gets a password of its own
    as soon as it starts (``_rotate_password``).
    """
    owner = os.geteuid() if account is None else account.pw_uid
    folder = runtime_root() / f"template-pg{pg_major}-{wheel_version()}-{owner}"
    password_file = folder / "password"
    with locked(runtime_root() / f"{folder.name}.lock"):
        if not password_file.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(mode=0o711)
            write_private(password_file, _initdb(install, account, folder / "data"))
    return folder / "data", password_file.read_text()


@contextlib.contextmanager
def embedded_postgres(*, port: int | None = None) -> Iterator[EmbeddedPostgres]:
    """A throwaway cluster in a temporary directory, stopped and removed on exit."""
    pg_major = major()
    directory = Path(tempfile.mkdtemp(prefix="run-", dir=runtime_root()))
    directory.chmod(0o711)
    instance = EmbeddedPostgres(directory, port=port, pg_major=pg_major)

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
    """The embedded server shared by notebooks opened by hand (one per major).

    The default major keeps the folder it always had, ``interactive``, so a server
    started before majors were selectable is still found by ``stop``.
    """
    pg_major = major()
    name = "interactive" if pg_major == DEFAULT_MAJOR else f"interactive-pg{pg_major}"
    return EmbeddedPostgres(runtime_root() / name, detach=True, pg_major=pg_major)
