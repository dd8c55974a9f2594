"""The fork server's own process (``booktools.forkserver`` starts it): what runs in it and in
each command it forks.

Started as ``python [-S] -c <boot> serve FD[,FD...] PRELOAD`` (one client, on inherited sockets:
a server per socket, forked once the imports are done) or
``... listen FD PRELOAD PATH`` (a test run's shared server: a session per client that connects).
It imports what it preloads, says it is ready, then per request forks a child, reports the
child's pid and then its exit status. The child turns itself into the command (``_become_command``)
and runs it as ``python -m module`` or ``python script.py`` would; whatever it raises reaches
Python's own top level.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.machinery
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

LOG_ENV = "BOOKTOOLS_FORKSERVER_LOG"
"""A file each server appends every command it forks to, one JSON list a line, when set as it
starts: ``python -m benchmarks`` counts the suite's commands with it."""

LENGTH = struct.Struct("!Q")
"""Every number on the socket: a request's length, a pid, an exit status (offset: it may be negative)."""

READY, READY_NOT = b"+", b"-"
"""What a server says once it has imported what it preloads, or found it cannot."""

_OFFSET = 1 << 63

GRACE = 2.0
"""Seconds a command has to exit after its interrupt before it is killed."""


def send_number(connection: socket.socket, number: int) -> None:
    connection.sendall(LENGTH.pack(number + _OFFSET))


def receive_number(connection: socket.socket) -> int:
    number: int = LENGTH.unpack(receive_exactly(connection, LENGTH.size))[0]
    return number - _OFFSET


def receive_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def command_of(request: dict[str, Any]) -> list[str]:
    """What the request runs, as on a command line: ``["-m", module]`` or ``[script]``."""
    return ["-m", request["module"]] if request.get("module") else [request["script"]]


def _serve(connection: socket.socket) -> tuple[dict[str, Any], int]:
    """Fork a child per request, report its pid and exit status; return only in a child.

    Leaves (``SystemExit``) when the client closes its end, between commands or during one
    (interrupted, it stopped listening), or in the middle of a request.
    """
    while True:
        try:
            header, fds, _, _ = socket.recv_fds(connection, LENGTH.size, 1)
            if not header:
                raise SystemExit(0)
            (length,) = LENGTH.unpack(header)
            request = json.loads(receive_exactly(connection, length))
        except (EOFError, ConnectionError):
            raise SystemExit(0) from None
        (output,) = fds
        if os.environ.get(LOG_ENV):
            with open(os.environ[LOG_ENV], "a") as log:
                log.write(json.dumps([*command_of(request), *request["args"]]) + "\n")
        started, child_started = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(started)
            os.close(child_started)  # says: Python runs again here, an interrupt from now on is not lost
            connection.close()
            return request, output
        exited = os.pidfd_open(pid)  # readable once the child has exited; ours until we reap it
        os.close(child_started)
        os.close(output)
        try:
            try:
                send_number(connection, pid)
            except ConnectionError:  # the client went before it heard the pid: as if it went mid-command
                _stop(pid, exited, started)
                raise SystemExit(0) from None
            try:
                send_number(connection, _wait(connection, pid, exited, started))
            except ConnectionError:
                raise SystemExit(0) from None
        finally:
            os.close(started)
            os.close(exited)


def _wait(connection: socket.socket, pid: int, exited: int, started: int) -> int:
    """The command's exit status, once it exits.

    A client says nothing while its command runs: if its end closes first (interrupted, or
    gone), the command is stopped (``_stop``) and the server leaves.
    """
    ready, _, _ = select.select([exited, connection.fileno()], [], [])
    if exited not in ready:
        _stop(pid, exited, started)
        raise SystemExit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _stop(pid: int, exited: int, started: int) -> None:
    """Interrupt the command, as the client's own child would have been; kill it if it has not
    exited ``GRACE`` seconds later (a command that ignores or catches SIGINT, or is stuck in C),
    as ``subprocess.run`` kills its child; then reap it.

    The interrupt waits (at most ``GRACE``) until the child runs Python code: a signal that arrives
    while Python sets itself up after the fork is dropped (CPython clears pending signals there).
    ``started`` reads end-of-file once the child has closed its end, or has exited.
    """
    select.select([started, exited], [], [], GRACE)
    with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped: nothing to signal
        signal.pidfd_send_signal(exited, signal.SIGINT)
    if not select.select([exited], [], [], GRACE)[0]:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(exited, signal.SIGKILL)
    os.waitpid(pid, 0)


def _listen(lifeline: socket.socket, path: str) -> socket.socket:
    """Fork a session per client that connects; return only in a session, with its connection.

    Leaves when the lifeline (the test run's end) closes.
    """
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # sessions reap themselves
    lifeline.sendall(READY)
    while True:
        ready, _, _ = select.select([listener, lifeline], [], [])
        if lifeline in ready:
            raise SystemExit(0)
        connection, _ = listener.accept()
        if os.fork() == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # a session waits for its commands
            listener.close()
            lifeline.close()
            return connection
        connection.close()


def _one_server_each(connections: list[socket.socket]) -> socket.socket:
    """Fork a server for each connection after the first; return the connection this process serves.

    The copies share what was imported, and this process's group: the client ends them together.
    """
    for connection in connections[1:]:
        if os.fork() == 0:
            for other in connections:
                if other is not connection:
                    other.close()
            return connection
        connection.close()
    return connections[0]


def _become_command(request: dict[str, Any], output: int) -> None:
    """In the child: take the command's place, as ``python -m`` would have set it up."""
    gc.enable()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(null)
    os.close(output)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("module"):
        sys.argv = ["-m", *request["args"]]  # runpy puts the module's file in argv[0]
        sys.path[0] = os.getcwd()  # where -m puts the working directory
    else:
        sys.argv = [request["script"], *request["args"]]  # as typed
        sys.path[0] = os.path.dirname(os.path.realpath(request["script"]))  # the script's real folder
    importlib.invalidate_caches()


def _run_command(request: dict[str, Any]) -> None:
    """Run the module as ``-m`` does, or the script as ``python script.py`` does; an error
    propagates to Python, which prints it and exits 1."""
    sys.excepthook = _from_the_command_on
    if request.get("module"):
        runpy._run_module_as_main(request["module"])  # type: ignore[attr-defined]  # what `python -m` itself calls
        return
    # CPython's _PyRun_SimpleFileObject: in __main__'s own namespace, with these three names
    # set; __file__ (and the frames' file name) is the path joined to the working directory,
    # not normalised. A syntax error is reported without a traceback, as there.
    script = request["script"]
    path = script if os.path.isabs(script) else os.path.join(os.getcwd(), script)
    namespace = vars(sys.modules["__main__"])
    namespace.update(__file__=path, __cached__=None,
                     __loader__=importlib.machinery.SourceFileLoader("__main__", path))
    try:
        with open(path, "rb") as file:
            source = file.read()
        # dont_inherit: not this module's `from __future__ import annotations`.
        exec(compile(source, path, "exec", dont_inherit=True), namespace)  # noqa: S102  # the command itself
    except SystemExit:
        raise  # Python exits at once: atexit functions still see __file__
    except BaseException:
        _forget_the_file(namespace)  # once the error is reported, there; atexit functions do not see it
        raise
    _forget_the_file(namespace)


def _forget_the_file(namespace: dict[str, Any]) -> None:
    """What ``python script.py`` removes from ``__main__`` once the script has run."""
    namespace.pop("__file__", None)
    namespace.pop("__cached__", None)


def _from_the_command_on(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    """Python's own report of an uncaught error, without the server's frames above the command's."""
    frame = trace
    while frame is not None and frame.tb_frame.f_code is not _run_command.__code__:
        frame = frame.tb_next
    if frame is not None:
        # Python prints the error's own __traceback__, whatever it is handed: cut it there.
        trace = frame.tb_next
        error.with_traceback(trace)
    sys.__excepthook__(kind, error, trace)


def _preload(names: Sequence[str]) -> bool:
    """Import ``names``; ``False`` if one of them is there but fails to import."""
    # Python's advice for a process that forks without exec: no collections while importing,
    # then everything imported moved out of the collector's sight, so that no child's collection
    # touches (and so copies) the server's memory pages.
    gc.disable()
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name.partition(".")[0]:
                return False
            # Not installed at all: nothing was half-imported, the command finds it missing itself.
        except ImportError:
            # There, but it cannot import here (SQLAlchemy's asyncio extension without greenlet):
            # the failed attempt may have changed modules already imported, so that a command
            # would no longer fail as it should. Such commands run as new processes.
            return False
    gc.freeze()
    return True


def _can_watch_children() -> bool:
    """Whether this kernel has pidfds (Linux 5.3): without them a server could not stop a
    command that ignores its interrupt, so its commands run as new processes."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def main(source_root: str) -> None:
    """The server: ``serve FD PRELOAD`` (one client, on a socket) or ``listen FD PRELOAD PATH`` (shared)."""
    if sys.path[0] == source_root:
        del sys.path[0]  # put there only to import us
    role, descriptors, preload = sys.argv[1:4]
    connections = [socket.socket(fileno=int(descriptor)) for descriptor in descriptors.split(",")]
    connection = connections[0]
    if not (_can_watch_children() and _preload(json.loads(preload))):
        connection.sendall(READY_NOT)
        raise SystemExit(0)
    if role == "listen":
        connection = _listen(connection, sys.argv[4])
    else:
        connection = _one_server_each(connections)
        connection.sendall(READY)
    request, output = _serve(connection)
    _become_command(request, output)
    _run_command(request)
