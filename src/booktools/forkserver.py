"""``python -m alembic``, ``python -m pytest`` and ``python script.py`` without paying Python's
start-up for each: a fork server.

An ``alembic upgrade head`` spends about 0.8 s importing SQLAlchemy and Alembic, and a
tenth of that migrating; a chapter's script or inner pytest run imports the same before
its own work. A chapter runs a dozen such commands, the test suite about 200. So the first
command a process runs starts a helper, a fork server, that imports Alembic and SQLAlchemy
once and then forks a child per command.

Each child is a new process, as ``python`` makes one: its own pid, event loop, connections,
``sys.modules`` beyond the imports done before the fork, ``__main__``, ``sys.argv``,
``sys.path``, working directory and environment. It runs the module as ``-m`` does, or the
script as Python runs a file (``__file__``, ``__loader__``, the script's real folder first on
``sys.path``, a syntax error reported without a traceback), with stdin at ``/dev/null`` and
stdout and stderr on one pipe, and exits as Python exits: an uncaught error printed as Python
prints it, then the interpreter's own shutdown (``atexit``, and the warnings the last garbage
collection prints). ``tests/test_forkserver.py`` runs commands both ways and compares what
they print.

Forked: ``-m alembic`` and ``-m pytest`` (``FORKED_MODULES``; other modules when asked), and
scripts (``python file.py``). What was imported before the fork is the one difference a
command could see, so a server imports only what Alembic's command line imports anyway
before an ``env.py`` runs, which the book's scripts and tests import too (and, for a script
beside modules that import a web stack, ``SCRIPT_EXTRAS``). Code that arranges its imports
before it imports must find nothing imported (chapter 15 hides greenlet with
``sys.modules["greenlet"] = None``): ``-c`` code, other modules, and a script whose source
mentions ``sys.modules``, ``sys.path``, ``sys.meta_path`` or ``importlib``
(``IMPORT_ARRANGERS``) run as plain new processes, as does everything when
``BOOKTOOLS_FORKSERVER=0``.

What a forked command does see differently from a new process, none of which Alembic,
pytest or the book's ``env.py`` files, scripts and tests read:

- ``PRELOADED`` (and a script's ``SCRIPT_EXTRAS``, once their server has started) is in
  ``sys.modules`` from the start. A script that arranges its imports is not forked (above),
  but a test run's ``conftest.py``, or a module a script imports, that hid a module before
  importing SQLAlchemy would find SQLAlchemy imported already. None of ``PRELOADED`` is a
  pytest plugin, which pytest would warn it cannot rewrite.
- ``sys.orig_argv`` (and ``/proc/self/cmdline``, ``ps``) show the server's command line,
  ``python -c <boot> serve ...``; ``sys.argv`` is the command's.
- The hash seed is the server's: ``hash()`` of a string is the same in every command one
  server forks, where new processes each draw their own (unless ``PYTHONHASHSEED`` is set).
- No controlling terminal, and the server's process group and session: opening ``/dev/tty``
  fails, and a Ctrl-C in a terminal reaches the client, which passes it on (below).
- Signal dispositions are those of the process that started the server: SIGINT ignored
  there (a background job of a script) is ignored in the commands too, as in its children.
- ``sys.excepthook`` is the server's: it drops the server's frames from an uncaught error's
  traceback, then calls Python's own (``sys.__excepthook__``).
- What the server imported is frozen out of the garbage collector (``gc.freeze()``, so that
  no child copies those memory pages): ``gc.get_freeze_count()`` is not 0.

An interrupted client (Ctrl-C, a notebook's stop button) closes its end of the socket; the
server then stops the command as ``subprocess.run`` stops its child: SIGINT, a short wait
(``GRACE``) on the command's pidfd, then SIGKILL. Closing a server ends its whole process
group, the command's own children included, and the spare below. A kernel without pidfds
(Linux before 5.3) gets no server: every command runs as a new process.

Settings Python reads only as it starts (flags such as ``-S``, ``PYTHON*``, the locale) and
what a server imports are fixed per server: a command that differs there gets a server of
its own. A server runs one command at a time; once it has imported what it preloads, it
forks a spare, so that a second command while one runs (chapter 21's two replicas) does not
wait for another server to start and import. A server leaves when its client's end of the
socket closes, so a kernel or pytest worker that dies takes it along. A test run shares one
server among its workers and kernels (``shared()``). The server's side is
``booktools.forkserver_process``.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import locale
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from booktools.errors import BookToolsError
from booktools.forkserver_process import GRACE, LENGTH, READY, receive_number

PRELOADED = (
    "alembic.config", "sqlalchemy.orm", "sqlalchemy.ext.asyncio",
    "asyncpg", "sqlalchemy.dialects.postgresql.asyncpg", "psycopg2", "sqlalchemy.dialects.postgresql.psycopg2",
    "psycopg", "sqlalchemy.dialects.postgresql.psycopg",
)
"""What the book's ``alembic`` commands import: the command line (``alembic.config``, the first
thing ``-m alembic`` imports), then what each ``env.py`` and app imports, and the drivers of
its variants. None of these warns on import, and each is imported before an ``env.py`` runs
its first line, so only an ``env.py`` that inspects ``sys.modules`` could tell. A module the
interpreter does not have is skipped: the command meets its absence as it would have."""

DISABLE_ENV = "BOOKTOOLS_FORKSERVER"
"""Set to ``0`` (in the environment Jupyter or pytest starts with) to run every command as a plain new process."""

SHARED_ENV = "BOOKTOOLS_FORKSERVER_SHARED"
"""``<key>@<socket path>`` of a server a test run shares (``shared()``); set by the pytest plugin."""

FORKED_MODULES = ("alembic", "pytest")
"""The ``-m`` modules forked by default: Alembic's command line, and the chapters' inner test runs."""

IMPORT_ARRANGERS = (b"sys.modules", b"sys.path", b"sys.meta_path", b"importlib")
"""A script whose source mentions one of these may arrange its imports before it imports (hide
a module, put another copy of one first on the path): it runs as a new process, where nothing
has been imported for it."""

SCRIPT_EXTRAS = ("fastapi", "httpx")
"""Preloaded too for a script that, or a module beside which, imports them (chapter 17's
``request.py`` and its ``api.py``): FastAPI takes 0.3 s to import, more than a request. Its
server starts in the background when such a script first runs (that run is forked from the
usual server), so later runs find it ready. Neither warns on import. Never for ``-m pytest``:
FastAPI imports anyio, whose pytest plugin pytest would warn it cannot rewrite."""

_IMPORT = re.compile(rb"^[ \t]*(?:import|from)[ \t]+(\w+)", re.MULTILINE)

FLAGS = ("-S",)
"""Interpreter flags a server can start with (the sandboxes run ``python -S``)."""

_SOURCE_ROOT = str(Path(__file__).resolve().parents[1])
_BOOT = (f"__import__('sys').path.insert(0, {_SOURCE_ROOT!r}); "
         f"__import__('booktools.forkserver_process').forkserver_process.main({_SOURCE_ROOT!r})")
"""The server's ``-c`` code. ``-c``, not ``-m``, and no names bound: ``__main__`` stays as a new
interpreter has it, for the command (``-m`` would run our module in it). The source folder
is on the path just to import us (``-S`` skips the installed package's path entry)."""



@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str
    """stdout and stderr, interleaved as written."""


class CommandTimeout(BookToolsError):
    """The command ran past its deadline and was killed."""


class _CannotFork(Exception):
    """A server could not import what it preloads: its commands run as new processes."""


@dataclass(frozen=True)
class _Invocation:
    """``python [flags] -m module args`` or ``python [flags] script args``, taken apart."""

    flags: tuple[str, ...]
    module: str | None
    script: str | None
    args: tuple[str, ...]

    @classmethod
    def parse(cls, arguments: Sequence[str]) -> _Invocation | None:
        """``None`` for anything else: ``-c`` code, another flag, no command."""
        flags = tuple(arguments[: next((i for i, a in enumerate(arguments) if a not in FLAGS), len(arguments))])
        rest = arguments[len(flags):]
        if len(rest) >= 2 and rest[0] == "-m":
            return cls(flags, rest[1], None, tuple(rest[2:]))
        if rest and not rest[0].startswith("-"):
            return cls(flags, None, rest[0], tuple(rest[1:]))
        return None

    def forkable(self, cwd: str, forked_modules: Collection[str]) -> bool:
        """A module of ``forked_modules``, or a script file that arranges no imports of its own."""
        if self.module is not None:
            return self.module in forked_modules
        assert self.script is not None
        path = os.path.join(cwd, self.script)
        if not (path.endswith(".py") and os.path.isfile(path)):
            return False  # a folder, a zip, a missing file: Python's own handling and message
        with open(path, "rb") as file:
            source = file.read()
        return not any(name in source for name in IMPORT_ARRANGERS)


def _key(flags: Sequence[str], preload: Sequence[str], environ: Mapping[str, str]) -> str:
    """What fixes a server: its flags, its imports, and what Python reads from the environment as it starts."""
    startup = sorted(
        (name, value) for name, value in environ.items()
        if name.startswith("PYTHON") or name.startswith("LC_") or name == "LANG"
    )
    return hashlib.sha256(json.dumps([sys.executable, list(flags), list(preload), startup]).encode()).hexdigest()


class _Group:
    """Servers started together (``_Server.start_group``): one process group, ended together."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.sockets: list[socket.socket] = []
        self.ended = False

    def end(self) -> None:
        """Close every member's socket (each stops its command and leaves), then end the group."""
        for member in self.sockets:
            member.close()
        if not self.ended:
            self.ended = True
            _end_group(self.process)


class _Server:
    """A fork server and our end of its socket: one command at a time."""

    def __init__(self, connection: socket.socket, group: _Group | None) -> None:
        self._socket = connection
        self._group = group

    @property
    def _process(self) -> subprocess.Popen[bytes] | None:
        """The first server of our group, whose pid names the group; ``None`` for a shared session."""
        return None if self._group is None else self._group.process

    @classmethod
    def start(cls, flags: Sequence[str], preload: Sequence[str], environ: Mapping[str, str]) -> _Server:
        """One server."""
        (server,) = cls.start_group(flags, preload, environ, size=1)
        return server

    @classmethod
    def start_group(cls, flags: Sequence[str], preload: Sequence[str], environ: Mapping[str, str],
                    *, size: int) -> list[_Server]:
        """``size`` servers for the price of one: the first imports what it preloads, then forks
        the others, each serving a socket of its own (commands at once take one each)."""
        pairs = [socket.socketpair() for _ in range(size)]
        theirs = [pair[1] for pair in pairs]
        try:
            process = subprocess.Popen(
                [sys.executable, *flags, "-c", _BOOT, "serve", ",".join(str(end.fileno()) for end in theirs),
                 json.dumps(list(preload))],
                env=dict(environ),
                cwd="/",  # imports as it starts must not find a module in the client's folder
                pass_fds=[end.fileno() for end in theirs],
                stdin=subprocess.DEVNULL,
                # A process group of its own: ipykernel, shutting down, waits for every child in its
                # group to go (2.5 s for a server, which outlives its signals as a zombie until we
                # reap it). An interrupt reaches the running command through the server (run()).
                start_new_session=True,
            )
        finally:
            for end in theirs:
                end.close()
        group = _Group(process)
        group.sockets = [ours for ours, _ in pairs]
        servers = [cls(ours, group) for ours in group.sockets]
        if any(ours.recv(1) != READY for ours in group.sockets):
            group.end()
            raise _CannotFork
        return servers

    @classmethod
    def connect(cls, path: str) -> _Server:
        """A session of the run's shared server (``shared()``)."""
        connection = socket.socket(socket.AF_UNIX)
        connection.connect(path)
        return cls(connection, None)

    def run(self, invocation: _Invocation, *, cwd: str, environ: Mapping[str, str], timeout: float) -> Completed:
        # Interrupted anywhere in here (the kernel's stop button, Ctrl-C), run_python() closes our
        # end: the server then interrupts the command, as a child in our process group would be.
        reader, writer = os.pipe()
        try:
            request = json.dumps({"module": invocation.module, "script": invocation.script,
                                  "args": invocation.args, "cwd": cwd, "env": dict(environ)}).encode()
            socket.send_fds(self._socket, [LENGTH.pack(len(request))], [writer])
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
        try:
            return receive_number(self._socket)
        except EOFError:
            raise BookToolsError(f"The fork server of {sys.executable} (booktools.forkserver) stopped.") from None

    def alive(self) -> bool:
        return self._group is None or (not self._group.ended and self._group.process.poll() is None)

    def close(self) -> None:
        """Close our end; the server stops a running command (``GRACE``) and leaves. Then end
        whatever is left in its process group: the servers started with it (``_Group``), a
        command's own children, or a server that hangs."""
        if self._group is None:
            self._socket.close()
        else:
            self._group.end()


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """Wait for a server that was told to leave (its socket closed), then kill its process group.

    Its pid names the group (``start_new_session``), and stays reserved while anything in the
    group runs, even once the server itself has been reaped.
    """
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=2 * GRACE + 5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


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


_idle: dict[str, list[_Server]] = {}
"""Servers between commands, by key. A server runs one command at a time: commands run at once
(threads, as chapter 21's two replicas) take one each, the second the first one's spare."""
_idle_lock = threading.Lock()
_cannot_fork: set[str] = set()
"""Keys whose server could not import what it preloads."""
_starting: set[str] = set()
"""Keys whose server starts in the background (``warm_up``, ``SCRIPT_EXTRAS``)."""
_started = threading.Condition(_idle_lock)
"""Notified when a server started in the background is ready (or could not start)."""


def _close_servers() -> None:
    with _idle_lock:
        servers = [server for pool in _idle.values() for server in pool]
        _idle.clear()
    for server in servers:
        server.close()


atexit.register(_close_servers)


def run_python(arguments: Sequence[str], *, cwd: str, environ: Mapping[str, str], timeout: float,
               preload: Sequence[str] = PRELOADED, forked_modules: Collection[str] = FORKED_MODULES) -> Completed:
    """``python arguments`` in ``cwd`` with exactly ``environ``: forked from a server that has
    imported ``preload`` when the arguments are ``[flags] -m module ...`` for a module of
    ``forked_modules`` or ``[flags] script.py ...`` for a script that arranges no imports
    (``IMPORT_ARRANGERS``), and ``BOOKTOOLS_FORKSERVER`` is not ``0``; else as a plain new process."""
    cwd = os.path.abspath(cwd)  # the server's working directory is not ours
    invocation = _Invocation.parse(arguments)
    key = _key(invocation.flags, preload, environ) if invocation else ""
    # Linux only: on macOS a process that has loaded some system libraries must not fork
    # without exec (Python's multiprocessing spawns there), and Windows has no fork.
    forked = invocation is not None and sys.platform == "linux" and environ.get(DISABLE_ENV) != "0" \
        and invocation.forkable(cwd, forked_modules)
    if forked and invocation is not None and invocation.script is not None and tuple(preload) == PRELOADED:
        preload, key = _with_script_extras(invocation, cwd, environ, preload, key)
    if invocation is None or not forked or key in _cannot_fork:
        try:
            process = subprocess.run(
                [sys.executable, *arguments], cwd=cwd, env=dict(environ), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, timeout=timeout,
            )
        except subprocess.TimeoutExpired as error:
            raise CommandTimeout(f"killed after {timeout} s") from error
        return Completed(process.returncode, process.stdout)
    with _idle_lock:
        while key in _starting and not _idle.get(key):
            _started.wait()  # warm_up() is starting it: sooner than starting another
        pool = _idle.setdefault(key, [])
        server = pool.pop() if pool else None
    if server is None or not server.alive():
        shared_key, _, shared_path = os.environ.get(SHARED_ENV, "").partition("@")
        server = None
        if shared_key == key:
            with contextlib.suppress(OSError):  # a run that has ended: a server of our own instead
                server = _Server.connect(shared_path)
        if server is None:
            try:
                # Two for the price of one: a second command while this one runs (chapter 21's two
                # replicas) finds a server ready instead of starting and importing one.
                server, *spares = _Server.start_group(invocation.flags, preload, environ, size=2)
                for spare in spares:
                    _put_back(key, spare)
            except _CannotFork:
                _cannot_fork.add(key)
                return run_python(arguments, cwd=cwd, environ=environ, timeout=timeout, preload=preload,
                                  forked_modules=forked_modules)
    try:
        completed = server.run(invocation, cwd=cwd, environ=environ, timeout=timeout)
    except CommandTimeout:
        _put_back(key, server)
        raise
    except BaseException:
        # Interrupted or stopped mid-command: the socket may be mid-message. Not reused.
        server.close()
        raise
    _put_back(key, server)
    return completed


def _with_script_extras(invocation: _Invocation, cwd: str, environ: Mapping[str, str], preload: Sequence[str],
                        key: str) -> tuple[Sequence[str], str]:
    """The preload and key for a script: with the ``SCRIPT_EXTRAS`` its folder imports once their
    server is ready; until then, as given, while that server starts in the background."""
    assert invocation.script is not None
    folder = Path(cwd, invocation.script).resolve().parent
    imported: set[bytes] = set()
    for module in folder.glob("*.py"):
        with contextlib.suppress(OSError):
            imported.update(_IMPORT.findall(module.read_bytes()))
    extras = tuple(name for name in SCRIPT_EXTRAS if name.encode() in imported)
    if not extras:
        return preload, key
    extended = (*preload, *extras)
    extended_key = _key(invocation.flags, extended, environ)
    with _idle_lock:
        if _idle.get(extended_key):
            return extended, extended_key
        if extended_key not in _starting and extended_key not in _cannot_fork:
            _starting.add(extended_key)
            threading.Thread(target=_start_in_background, daemon=True,
                             args=(extended_key, invocation.flags, extended, dict(environ))).start()
    return preload, key


def _start_in_background(key: str, flags: Sequence[str], preload: Sequence[str], environ: Mapping[str, str]) -> None:
    try:
        servers = _Server.start_group(flags, preload, environ, size=2)
    except Exception:  # noqa: BLE001  # _CannotFork, or no process at all: new processes, or the usual server
        with _idle_lock:
            _cannot_fork.add(key)
            _starting.discard(key)
            _started.notify_all()
        return
    with _idle_lock:
        _idle.setdefault(key, []).extend(servers)
        _starting.discard(key)
        _started.notify_all()


def warm_up(environ: Mapping[str, str], preload: Sequence[str] = PRELOADED) -> None:
    """Start, in the background, the server that the first ``python -m alembic`` (or pytest run, or
    script) run with ``environ`` will want, so that it need not wait for its imports; nothing if a
    test run shares one, or one is ready or starting already."""
    if sys.platform != "linux" or environ.get(DISABLE_ENV) == "0" or SHARED_ENV in os.environ:
        return
    key = _key((), preload, environ)
    with _idle_lock:
        if _idle.get(key) or key in _starting or key in _cannot_fork:
            return
        _starting.add(key)
    threading.Thread(target=_start_in_background, args=(key, (), tuple(preload), dict(environ)), daemon=True).start()


def _put_back(key: str, server: _Server) -> None:
    with _idle_lock:
        _idle.setdefault(key, []).append(server)


@contextlib.contextmanager
def shared(environ: Mapping[str, str]) -> Iterator[None]:
    """One server for a whole test run, for commands run with ``environ``'s start-up settings.

    Exported in ``SHARED_ENV``: the workers and kernels started inside the ``with`` inherit it and
    open a session each (a child of the server, serving that client as a server of its own
    would) instead of starting and importing a server each. Stopped when the ``with`` ends.
    """
    if sys.platform != "linux":  # nothing is forked elsewhere (run_python)
        yield
        return
    folder = tempfile.mkdtemp(prefix="booktools-forkserver-")
    path = os.path.join(folder, "socket")
    if len(path) >= 100:  # beyond what a Unix socket's address holds: each client keeps its own server
        os.rmdir(folder)
        yield
        return
    ours, theirs = socket.socketpair()
    with theirs:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, "listen", str(theirs.fileno()), json.dumps(list(PRELOADED)), path],
            env=dict(environ), cwd="/", pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        # Ready once it is listening: it says so on the lifeline.
        if ours.recv(1) != READY:  # it cannot fork here (no pidfds): each client runs plain processes
            yield
            return
        os.environ[SHARED_ENV] = f"{_key((), PRELOADED, environ)}@{path}"
        yield
    finally:
        os.environ.pop(SHARED_ENV, None)
        ours.close()  # the lifeline: the server leaves when it closes
        _end_group(process)  # and its sessions and their commands with it
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.rmdir(folder)
