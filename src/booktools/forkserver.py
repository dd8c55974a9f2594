"""``alembic`` commands without paying Python's start-up for each: a fork server.

An ``alembic upgrade head`` spends about 0.8 s importing SQLAlchemy and Alembic, and a
tenth of that migrating. A chapter runs a dozen such commands, the test suite about 150.
So the first command a process runs starts a helper, a fork server,
that imports Alembic and SQLAlchemy once and then forks a child per command.

Each child is a new process, as ``python -m alembic`` makes one: its own pid, event loop,
connections, ``sys.modules`` beyond the imports done before the fork, ``__main__``, working
directory and environment. It runs the command's module as ``-m`` does, with stdin at
``/dev/null`` and stdout and stderr on one pipe, and exits as Python exits: an uncaught
error printed as ``-m`` prints it, then the interpreter's own shutdown (``atexit``, and the
warnings the last garbage collection prints). ``tests/test_forkserver.py`` runs commands
both ways and compares what they print.

Settings Python reads only as it starts (``PYTHON*``, the locale) are fixed per server:
a command whose environment differs there gets a server of its own. The server leaves
when its client's end of the socket closes, so a kernel or pytest worker that dies takes
it along.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import locale
import os
import random
import runpy
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from booktools.errors import BookToolsError

PRELOADED = (
    "alembic.config", "sqlalchemy.orm", "sqlalchemy.ext.asyncio",
    "asyncpg", "sqlalchemy.dialects.postgresql.asyncpg", "psycopg2", "sqlalchemy.dialects.postgresql.psycopg2",
)
"""What the book's ``alembic`` commands import: the CLI, what each ``env.py`` and app imports, and the
two drivers of its main variants. A module the command would import anyway, imported earlier,
changes nothing it prints (none of these warns on import); drivers a command lacks are not here."""

DISABLE_ENV = "BOOKTOOLS_FORKSERVER"
"""Set to ``0`` to run every command as a plain ``python -m`` process."""

_LENGTH = struct.Struct("!Q")


def startup_settings(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The part of an environment Python reads only when it starts: one server per distinct value."""
    return tuple(sorted(
        (name, value) for name, value in environ.items()
        if name.startswith("PYTHON") or name.startswith("LC_") or name == "LANG"
    ))


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str
    """stdout and stderr, interleaved as written."""


class CommandTimeout(BookToolsError):
    """The command ran past its deadline and was killed."""


class _Server:
    """One fork server and our end of its socket."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._socket, theirs = socket.socketpair()
        with theirs:
            self._process = subprocess.Popen(
                # -c, not -m: our code stays out of __main__, which the command then gets as a new
                # interpreter has it (-m runs a module's code in __main__'s namespace).
                [sys.executable, "-c", "__import__('booktools.forkserver').forkserver.main()", str(theirs.fileno())],
                env=dict(environ),
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )

    def run(self, module: str, args: Sequence[str], *, cwd: str, environ: Mapping[str, str],
            timeout: float) -> Completed:
        reader, writer = os.pipe()
        try:
            request = json.dumps({"module": module, "args": list(args), "cwd": cwd, "env": dict(environ)}).encode()
            socket.send_fds(self._socket, [_LENGTH.pack(len(request))], [writer])
            self._socket.sendall(request)
            os.close(writer)
            writer = -1
            pid = self._receive_number()
            output = _read_until_closed(reader, pid, deadline=time.monotonic() + timeout)
            returncode = self._receive_number()  # after a kill too: the server is ready for the next one
        finally:
            os.close(reader)
            if writer >= 0:
                os.close(writer)
        if output is None:
            raise CommandTimeout(f"killed after {timeout} s")
        text = output.decode(locale.getpreferredencoding(False), errors="replace")
        return Completed(returncode, text.replace("\r\n", "\n"))

    def _receive_number(self) -> int:
        data = b""
        while len(data) < _LENGTH.size:
            chunk = self._socket.recv(_LENGTH.size - len(data))
            if not chunk:
                raise BookToolsError(f"The fork server of {sys.executable} (booktools.forkserver) stopped.")
            data += chunk
        number: int = _LENGTH.unpack(data)[0]
        return number - (1 << 63)

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        """Close our end (the server leaves when it next reads), then make sure it has."""
        self._socket.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _read_until_closed(reader: int, pid: int, *, deadline: float) -> bytes | None:
    """Everything the child writes until it exits; ``None`` if it was killed at the deadline."""
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([reader], [], [], remaining)[0]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return None
        chunk = os.read(reader, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


_idle: dict[tuple[tuple[str, str], ...], list[_Server]] = {}
"""Servers between commands, by their start-up settings. One runs one command at a time: commands
run at once (threads, as chapter 21's two replicas) take one server each."""
_idle_lock = threading.Lock()


def _close_servers() -> None:
    with _idle_lock:
        servers = [server for pool in _idle.values() for server in pool]
        _idle.clear()
    for server in servers:
        server.close()


atexit.register(_close_servers)


def run_module(module: str, args: Sequence[str], *, cwd: str, environ: Mapping[str, str],
               timeout: float) -> Completed:
    """``python -m module args`` in ``cwd`` with exactly ``environ``, forked from a server that has
    imported ``PRELOADED`` (or, with ``BOOKTOOLS_FORKSERVER=0``, as a plain new process)."""
    if environ.get(DISABLE_ENV) == "0":
        try:
            process = subprocess.run(
                [sys.executable, "-m", module, *args], cwd=cwd, env=dict(environ), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise CommandTimeout(f"killed after {timeout} s") from error
        return Completed(process.returncode, process.stdout)
    key = startup_settings(environ)
    with _idle_lock:
        pool = _idle.setdefault(key, [])
        server = pool.pop() if pool else None
    if server is None or not server.alive():
        server = _Server(environ)
    try:
        completed = server.run(module, args, cwd=cwd, environ=environ, timeout=timeout)
    except CommandTimeout:
        _put_back(key, server)
        raise
    except BaseException:
        # Interrupted or stopped mid-command: the socket may be mid-message. Not reused.
        server.close()
        raise
    _put_back(key, server)
    return completed


def _put_back(key: tuple[tuple[str, str], ...], server: _Server) -> None:
    with _idle_lock:
        _idle.setdefault(key, []).append(server)


# --- the server side ------------------------------------------------------------------------


def _send_number(connection: socket.socket, number: int) -> None:
    connection.sendall(_LENGTH.pack(number + (1 << 63)))


def _receive_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _serve(connection: socket.socket) -> tuple[dict[str, Any], int]:
    """Fork a child per request, report its pid and exit status; return only in a child.

    Leaves (``SystemExit``) when the client closes its end.
    """
    while True:
        header, fds, _, _ = socket.recv_fds(connection, _LENGTH.size, 1)
        if not header:
            raise SystemExit(0)
        (length,) = _LENGTH.unpack(header)
        request = json.loads(_receive_exactly(connection, length))
        (output,) = fds
        pid = os.fork()
        if pid == 0:
            connection.close()
            return request, output
        os.close(output)
        _send_number(connection, pid)
        _, status = os.waitpid(pid, 0)
        _send_number(connection, os.waitstatus_to_exitcode(status))


def _become_command(request: dict[str, Any], output: int) -> None:
    """In the child: take the command's place, as ``python -m`` would have set it up."""
    gc.enable()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(null)
    os.close(output)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["-m", *request["args"]]
    sys.path[0] = os.getcwd()
    importlib.invalidate_caches()
    random.seed()  # a new process would not share its random state with its siblings


def _run_command(module: str) -> None:
    """Run ``module`` as ``-m`` does; an error propagates and is printed as ``-m`` prints it."""
    sys.excepthook = _from_the_command_on
    runpy._run_module_as_main(module)  # type: ignore[attr-defined]  # what `python -m` itself calls


def _from_the_command_on(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    """Python's own report of an uncaught error, without the server's frames above ``-m``'s."""
    frame = trace
    while frame is not None and frame.tb_frame.f_code is not _run_command.__code__:
        frame = frame.tb_next
    if frame is not None:
        # Python prints the error's own __traceback__, whatever it is handed: cut it there.
        trace = frame.tb_next
        error.with_traceback(trace)
    sys.__excepthook__(kind, error, trace)


def main() -> None:
    # An interrupt (Jupyter signals the kernel's whole process group) is for the command, not for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Python's advice for a process that forks without exec: no collections while importing,
    # then everything imported moved out of the collector's sight, so that no child's collection
    # touches (and so copies) the server's memory pages.
    gc.disable()
    for name in PRELOADED:
        importlib.import_module(name)
    gc.freeze()
    connection = socket.socket(fileno=int(sys.argv[1]))
    request, output = _serve(connection)
    _become_command(request, output)
    _run_command(request["module"])


