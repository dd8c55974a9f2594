"""A command forked from ``booktools.forkserver`` is indistinguishable from ``python -m alembic``,
``python -m pytest`` or ``python script.py`` run as a new process.

Each test runs the same command both ways, in the same project, and compares what it printed
and how it exited: the stored outputs of every chapter rest on this.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from booktools import forkserver, sandboxes
from booktools.forkserver import Completed
from booktools.forkserver_process import LENGTH
from booktools.project import ScratchProject, command_environ
from booktools.sandboxes import SANDBOX_PRELOADED

ProjectFactory = Callable[..., ScratchProject]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="commands are forked on Linux only (forkserver)")

PROBE = """\
import os, sys
print("argv", sys.argv[0].endswith("alembic/__main__.py"), sys.argv[1:])
print("path", os.getcwd() in sys.path)
print("main", sorted(vars(sys.modules["__main__"])))
print("env", os.environ.get("ONLY_IN_THE_SERVER"), os.environ.get("ONLY_IN_THE_COMMAND"))
print("stdin", sys.stdin.read() == "")
"""
"""An env.py that reports what a new ``python -m alembic`` process would have."""

MEETING = """\
import os, pathlib, time
arrived = pathlib.Path("arrived")
arrived.mkdir(exist_ok=True)
(arrived / str(os.getpid())).touch()
deadline = time.monotonic() + 120  # a safety net, not a measured window: the other one starts at once
while len(list(arrived.iterdir())) < 2:
    if time.monotonic() > deadline:
        raise SystemExit("alone: the other command never ran alongside")
    time.sleep(0.05)
print("met")
"""
"""An env.py that waits until two commands are running it at once."""


def own_server_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """For a client process that must start a server of its own, not use the test run's shared one."""
    return {name: value for name, value in command_environ(environ).items() if name != forkserver.SHARED_ENV}


def run(project: ScratchProject, *args: str, forked: bool, **extra_environ: str) -> Completed:
    """``alembic args`` in the project, as ``run_command`` runs it: forked, or as a new process."""
    environ = {**command_environ(project.environ()), **extra_environ}
    if not forked:
        environ[forkserver.DISABLE_ENV] = "0"
    return forkserver.run_python(["-m", "alembic", *args], cwd=str(project.root), environ=environ, timeout=60)


def test_a_migration_prints_the_same(make_project: ProjectFactory) -> None:
    project = make_project(env="async")
    project.alembic("revision", "--autogenerate", "-m", "create tables", "--rev-id", "0001", echo=False)
    new_process = run(project, "upgrade", "head", forked=False)
    project.alembic("downgrade", "base", echo=False)
    forked = run(project, "upgrade", "head", forked=True)
    assert new_process.returncode == forked.returncode == 0
    assert "Running upgrade  -> 0001, create tables" in forked.output
    assert forked.output == new_process.output


def test_missing_greenlet_traceback_and_exit_warning_are_the_same(make_project: ProjectFactory) -> None:
    """The article's env.py: the whole traceback, frame by frame, and the warning Python prints as it exits."""
    project = make_project(env="article-broken")
    autogenerate = ("revision", "--autogenerate", "-m", "x", "--rev-id", "0001")
    new_process, forked = run(project, *autogenerate, forked=False), run(project, *autogenerate, forked=True)
    assert new_process.returncode == forked.returncode == 1
    assert "sqlalchemy.exc.MissingGreenlet" in forked.output
    assert "coroutine 'connect' was never awaited" in forked.output
    assert forked.output == new_process.output


def test_the_command_gets_a_new_process_state(make_project: ProjectFactory) -> None:
    """argv, sys.path, a fresh __main__, exactly the command's environment, stdin at /dev/null."""
    project = make_project(env="async")
    project.write("migrations/env.py", PROBE)
    forkserver._close_servers()
    # A server started with a variable that the next command's environment does not have.
    run(project, "--version", forked=True, ONLY_IN_THE_SERVER="leaked")
    forked = run(project, "current", forked=True, ONLY_IN_THE_COMMAND="given")
    new_process = run(project, "current", forked=False, ONLY_IN_THE_COMMAND="given")
    assert forked.returncode == new_process.returncode == 0
    assert forked.output == new_process.output
    assert "argv True ['current']" in forked.output
    assert "path True" in forked.output
    assert "env None given" in forked.output
    assert "stdin True" in forked.output


def test_commands_at_once_run_at_once(make_project: ProjectFactory) -> None:
    """Two commands from two threads overlap (chapter 21's two replicas): each takes a server."""
    project = make_project(env="async")
    project.write("migrations/env.py", MEETING)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run(project, "current", forked=True), range(2)))
    assert [(result.returncode, result.output) for result in results] == [(0, "met\n")] * 2


def test_a_command_past_its_deadline_is_killed_and_the_next_one_runs(make_project: ProjectFactory) -> None:
    project = make_project(env="async")
    project.write("migrations/env.py", "import time\ntime.sleep(3600)\n")
    environ = command_environ(project.environ())
    started = time.perf_counter()
    with pytest.raises(forkserver.CommandTimeout):
        forkserver.run_python(["-m", "alembic", "current"], cwd=str(project.root), environ=environ, timeout=0.5)
    assert time.perf_counter() - started < 600, "the command ran on past its deadline"
    assert forkserver.run_python(["-m", "alembic", "--version"], cwd=str(project.root), environ=environ,
                                 timeout=60).returncode == 0


def test_the_server_leaves_with_its_client(tmp_path: Path) -> None:
    """A client that exits without cleaning up (a kernel killed) leaves no server behind: neither
    the one it started nor the spare that one forked."""
    code = (
        "import os, psutil\n"
        "from booktools import forkserver\n"
        "forkserver.run_python(['-m', 'alembic', '--version'], cwd='.', environ=dict(os.environ), timeout=60)\n"
        "(first,) = {server._process.pid for pool in forkserver._idle.values() for server in pool}\n"
        "print(first, *(child.pid for child in psutil.Process(first).children()))\n"
        "os._exit(0)\n"  # no atexit, as if killed
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                               check=True, env=own_server_environ(os.environ))
    server, *spares = map(int, completed.stdout.split())
    assert len(spares) == 1, "a server starts with one spare"
    for pid in (server, *spares):
        assert exits(pid), f"the fork server {pid} outlived its client"


def test_a_second_command_at_once_needs_no_new_server(make_project: ProjectFactory,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The server a client starts forks a spare once it has imported what it preloads: two
    commands at once (chapter 21's replicas) are forked from one started server, not two."""
    monkeypatch.delenv(forkserver.SHARED_ENV, raising=False)  # a server of our own, as a kernel has
    project = make_project(env="async")
    project.write("migrations/env.py", MEETING + "print(os.getpgrp())\n")
    environ = command_environ(project.environ())
    forkserver._close_servers()
    # A chapter's first command starts the server, as chapter 21's setup does before its replicas.
    forkserver.run_python(["-m", "alembic", "--version"], cwd=str(project.root), environ=environ, timeout=60)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: forkserver.run_python(
            ["-m", "alembic", "current"], cwd=str(project.root), environ=environ, timeout=60), range(2)))
    assert [result.returncode for result in results] == [0, 0]
    started = {server._process.pid for pool in forkserver._idle.values() for server in pool if server._process}
    groups = {int(result.output.split()[-1]) for result in results}
    assert groups == started and len(started) == 1, f"servers started: {started}, commands' groups: {groups}"
    forkserver._close_servers()


def test_warm_up_starts_the_server_the_first_command_then_uses(make_project: ProjectFactory,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``start_chapter`` warms the server up while it makes the database: the chapter's first
    command waits for that server instead of starting a second one."""
    monkeypatch.delenv(forkserver.SHARED_ENV, raising=False)  # a server of our own, as a kernel has
    project = make_project(env="async")
    project.write("migrations/env.py", "import os\nprint(os.getpgrp())\n")
    environ = command_environ(project.environ())
    forkserver._close_servers()
    forkserver.warm_up(environ)
    assert forkserver._starting or forkserver._idle, "warm_up started no server"
    result = forkserver.run_python(["-m", "alembic", "current"], cwd=str(project.root), environ=environ, timeout=60)
    assert result.returncode == 0, result.output
    started = {server._process.pid for pool in forkserver._idle.values() for server in pool if server._process}
    assert {int(result.output.split()[-1])} == started, f"servers started: {started}"
    forkserver._close_servers()


INTERRUPTED_CLIENT = """\
import os, signal
# Python's own Ctrl-C handler, whatever this process inherited: started with SIGINT ignored (a
# background job of a script), Python would install none and the interrupt below would be lost.
signal.signal(signal.SIGINT, signal.default_int_handler)
from booktools import forkserver
print(forkserver.run_python(["-m", "alembic", "current"], cwd=".", environ=dict(os.environ), timeout=3600))
"""

SLOW_ENV_PY = """\
import os, pathlib, time
pathlib.Path("command.pid").write_text(str(os.getpid()))
time.sleep(3600)
"""

STUBBORN_ENV_PY = """\
import os, pathlib, signal, subprocess, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "3600"])
pathlib.Path("child.pid").write_text(str(child.pid))
pathlib.Path("command.pid").write_text(str(os.getpid()))
while True:
    time.sleep(3600)
"""
"""An env.py that ignores SIGINT (as one that catches KeyboardInterrupt, or a blocking C call,
would not stop) and has started a process of its own."""

SAFETY_NET = 120
"""Seconds before a test that waits for a process gives up: a hang guard, not a measured window."""


def states_of(pid: int) -> str:
    """A process's state and what it waits in, for a failure message."""
    try:
        process = psutil.Process(pid)
        return f"{process.status()} in {Path(f'/proc/{pid}/wchan').read_text() or '?'}"
    except (psutil.Error, OSError) as error:
        return f"gone ({type(error).__name__})"


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def exits(pid: int) -> bool:
    """Whether a process (not necessarily our child) exits, waiting on its pidfd up to ``SAFETY_NET``."""
    try:
        watched = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([watched], [], [], SAFETY_NET)[0])
    finally:
        os.close(watched)


def interrupt_a_running_command(project: ScratchProject) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """Start a client whose command runs the project's env.py, wait until it runs, send the client SIGINT.

    Returns the client and the pids the env.py wrote (``command``, and ``child`` if it has one),
    with the ``server`` the command was forked from.
    """
    client = subprocess.Popen([sys.executable, "-c", INTERRUPTED_CLIENT], cwd=project.root, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=own_server_environ(project.environ()))
    pid_file = project.path("command.pid")
    deadline = time.monotonic() + SAFETY_NET
    while not pid_file.is_file() or not pid_file.read_text():
        assert time.monotonic() < deadline and client.poll() is None, f"never started: {client.communicate()}"
        time.sleep(0.05)
    pids = {name: int(project.path(f"{name}.pid").read_text())
            for name in ("command", "child") if project.path(f"{name}.pid").is_file()}
    pids["server"] = psutil.Process(pids["command"]).ppid()
    client.send_signal(signal.SIGINT)
    return client, pids


def assert_stopped(client: subprocess.Popen[str], pids: dict[str, int]) -> None:
    """The client stops with KeyboardInterrupt, and nothing it started is left running."""
    try:
        _, stderr = client.communicate(timeout=SAFETY_NET)
    except subprocess.TimeoutExpired:
        states = {name: states_of(pid) for name, pid in {"client": client.pid, **pids}.items()}
        client.kill()
        pytest.fail(f"the client did not stop after its interrupt: {states}")
    assert "KeyboardInterrupt" in stderr
    left = {name: states_of(pid) for name, pid in pids.items() if not exits(pid)}
    assert not left, f"left running: {left}"


def test_an_interrupt_stops_the_command_and_the_server(make_project: ProjectFactory) -> None:
    """Ctrl-C, or a notebook's stop button: the command gets it, as a child process would, and nothing is left."""
    project = make_project(env="async")
    project.write("migrations/env.py", SLOW_ENV_PY)
    assert_stopped(*interrupt_a_running_command(project))


def test_a_command_that_ignores_its_interrupt_is_killed_with_its_children(make_project: ProjectFactory) -> None:
    """SIGINT, a short wait, then SIGKILL, as ``subprocess.run`` does; the process the command
    started goes with the server's process group. Nothing keeps a database connection open."""
    project = make_project(env="async")
    project.write("migrations/env.py", STUBBORN_ENV_PY)
    client, pids = interrupt_a_running_command(project)
    assert set(pids) == {"command", "child", "server"}
    assert_stopped(client, pids)


def test_a_client_gone_before_it_hears_the_pid_still_stops_its_command(tmp_path: Path) -> None:
    """Interrupted between sending a command and hearing its pid, the client closes its end before
    the server can answer: the server interrupts and waits for the command then too (it used to
    leave it running). A forked command shows the server's command line: none may be left."""
    (tmp_path / "sleeper.py").write_text("import time\ntime.sleep(30)\n")
    environ = own_server_environ(os.environ)
    server = forkserver._Server.start((), (), environ)
    assert server._process is not None
    server_command_line = psutil.Process(server._process.pid).cmdline()
    request = json.dumps({"module": "sleeper", "args": [], "cwd": str(tmp_path), "env": environ}).encode()
    reader, writer = os.pipe()
    socket.send_fds(server._socket, [LENGTH.pack(len(request))], [writer])
    server._socket.sendall(request)
    os.close(writer)
    server.close()  # before the server has answered: its answer finds our end closed
    os.close(reader)
    left = [process.pid for process in psutil.process_iter(["cmdline"])
            if process.info["cmdline"] == server_command_line]
    assert not left, f"forked commands left running: {left}"


WHO_RUNS_ME = "import os, sys\nprint(os.getppid(), 'sqlalchemy' in vars(sys)['modules'])\n"
"""Its parent (the client: a new process; else the server) and whether SQLAlchemy was imported for it."""


@pytest.mark.parametrize(
    ("arguments", "source"),
    [(["-c", "import parent"], WHO_RUNS_ME), (["-m", "parent"], WHO_RUNS_ME),
     (["parent.py"], "import sys\nsys.modules['greenlet'] = None\n" + WHO_RUNS_ME),
     (["parent.py"], "import sys\nsys.path.insert(0, 'vendored')\n" + WHO_RUNS_ME)],
    ids=["code", "another module", "a script that hides a module", "a script that puts a folder first"],
)
def test_what_may_arrange_its_imports_is_not_forked(tmp_path: Path, arguments: list[str], source: str) -> None:
    """Code other than Alembic's and pytest's command lines may arrange imports before it imports
    (chapter 15 hides greenlet with ``-c`` code): a new process, with nothing imported for it."""
    (tmp_path / "parent.py").write_text(source)
    environ = command_environ(os.environ)
    completed = forkserver.run_python(arguments, cwd=str(tmp_path), environ=environ, timeout=60)
    assert completed.output.split() == [str(os.getpid()), "False"]


SCRIPT = """\
import os, sys
import sqlalchemy

x: int = 1  # evaluated: the script does not inherit the server's `from __future__ import annotations`
print("argv", sys.argv)
print("file", __file__, __cached__, type(__loader__).__name__, __spec__, __name__, __annotations__)
print("path", vars(sys)["path"][0])
print("main", sorted(vars(__import__("__main__"))))
print("env", os.environ.get("ONLY_IN_THE_SERVER"), os.environ.get("ONLY_IN_THE_COMMAND"))
print("stdin", sys.stdin.read() == "")
__import__("atexit").register(lambda: print("at exit, __file__ still set:", "__file__" in vars(__import__("__main__"))))


def fail():
    raise ValueError("from the script")


if sys.argv[1] == "raise":
    fail()
if sys.argv[1] == "exit":
    sys.exit(3)
"""
"""A script that reports what ``python script.py`` gives it, then exits as its argument says."""


@pytest.mark.parametrize(
    ("arguments", "returncode"),
    [(["script.py", "ok"], 0), (["script.py", "raise"], 1), (["script.py", "exit"], 3),
     (["./sub/../script.py", "ok"], 0), (["link.py", "ok"], 0), (["broken.py"], 1)],
    ids=["runs", "raises", "exits", "unnormalised-path", "symlink", "syntax-error"],
)
def test_a_script_prints_the_same(tmp_path: Path, arguments: list[str], returncode: int) -> None:
    """``python script.py``, forked: argv as typed, ``__file__`` as Python joins it, the script's real
    folder first on the path, ``__main__`` as Python sets it up (and cleans it up before atexit
    functions run, except after ``sys.exit``), the same traceback, exit status and syntax error."""
    (tmp_path / "script.py").write_text(SCRIPT)
    (tmp_path / "sub").mkdir()
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "script.py").write_text(SCRIPT)
    (tmp_path / "link.py").symlink_to(tmp_path / "real" / "script.py")
    (tmp_path / "broken.py").write_text("def (\n")
    environ = {**command_environ(os.environ), "ONLY_IN_THE_COMMAND": "given"}
    forkserver._close_servers()
    # A server started with a variable that the script's environment does not have.
    forkserver.run_python(["-m", "alembic", "--version"], cwd=str(tmp_path), timeout=60,
                          environ={**environ, "ONLY_IN_THE_SERVER": "leaked"})
    invocation = forkserver._Invocation.parse(arguments)
    assert invocation is not None and invocation.forkable(str(tmp_path), forkserver.FORKED_MODULES)
    forked = forkserver.run_python(arguments, cwd=str(tmp_path), environ=environ, timeout=60)
    new_process = forkserver.run_python(arguments, cwd=str(tmp_path), environ={**environ, forkserver.DISABLE_ENV: "0"},
                                        timeout=60)
    assert forked == new_process
    assert forked.returncode == returncode
    if arguments != ["broken.py"]:
        assert f"argv {arguments!r}" in forked.output
        assert "env None given" in forked.output


def test_a_script_is_forked(tmp_path: Path) -> None:
    (tmp_path / "parent.py").write_text("import os\nprint(os.getppid())\n")
    completed = forkserver.run_python(["parent.py"], cwd=str(tmp_path), environ=command_environ(os.environ), timeout=60)
    assert completed.output.split() != [str(os.getpid())]


INNER_TESTS = """\
import warnings


def test_passes():
    assert 1


def test_fails():
    got = {"status": "pending"}
    assert got == {"status": "paid"}


def test_warns():
    warnings.warn("a warning from the test", UserWarning)
"""


@pytest.mark.parametrize("options", [["-qq", "-rN", "--tb=short"], ["-rA", "--tb=long"]], ids=["quiet", "verbose"])
def test_an_inner_pytest_run_prints_the_same(tmp_path: Path, options: list[str]) -> None:
    """``python -m pytest`` (chapters 12, 17, 18, 26), forked: the same report, assertion rewriting
    and warnings included, the same exit status. The only difference is the time pytest prints."""
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    arguments = ["-m", "pytest", "-p", "no:nbval", "-p", "no:cacheprovider", *options, "test_inner.py"]
    environ = command_environ(os.environ)
    forked = forkserver.run_python(arguments, cwd=str(tmp_path), environ=environ, timeout=60)
    new_process = forkserver.run_python(arguments, cwd=str(tmp_path), environ={**environ, forkserver.DISABLE_ENV: "0"},
                                        timeout=60)
    assert forked.returncode == new_process.returncode == 1
    assert "assert {'status': 'pending'} == {'status': 'paid'}" in forked.output
    in_seconds = re.compile(r" in \d+\.\d+s\b")
    assert in_seconds.sub(" in Ns", forked.output) == in_seconds.sub(" in Ns", new_process.output)


@pytest.mark.parametrize("preload", [SANDBOX_PRELOADED, ("sqlalchemy.ext.asyncio",)],
                         ids=["preloaded-what-imports", "asked-to-preload-what-fails"])
def test_a_sandbox_without_greenlet_fails_the_same(tmp_path: Path, preload: tuple[str, ...]) -> None:
    """Chapter 1's lesson in a sandbox without greenlet: SQLAlchemy's asyncio extension fails to import.

    A server that preloads what it has (no Alembic there) forks a command that fails as it would
    have; one asked to preload the failing extension refuses, and the command runs as a new process.
    """
    (tmp_path / "lesson.py").write_text("import sqlalchemy.ext.asyncio\n")
    environ = {**command_environ(os.environ),
               "PYTHONPATH": str(sandboxes.sandbox("sqlalchemy-2.1-without-greenlet")), "PYTHONNOUSERSITE": "1"}
    arguments = ["-S", "-m", "lesson"]
    forked = forkserver.run_python(arguments, cwd=str(tmp_path), environ=environ, timeout=60, preload=preload,
                                   forked_modules={"lesson"})
    new_process = forkserver.run_python(arguments, cwd=str(tmp_path),
                                        environ={**environ, forkserver.DISABLE_ENV: "0"}, timeout=60)
    assert "requires that the Python 'greenlet' library is installed" in forked.output
    assert forked.output == new_process.output


def test_a_test_run_shares_one_server(tmp_path: Path) -> None:
    """Inside ``shared()``, another process's command is forked from the shared server: no server of its own."""
    environ = command_environ(os.environ)
    client = (
        "import os, psutil\n"
        "from booktools import forkserver\n"
        "open('parent.py', 'w').write('import os; print(os.getppid())')\n"
        "done = forkserver.run_python(['-m', 'parent'], cwd='.', environ=dict(os.environ), timeout=60,"
        " forked_modules={'parent'})\n"
        "own = [server._process is not None for pool in forkserver._idle.values() for server in pool]\n"
        "session = psutil.Process(int(done.output))\n"  # alive while this client is connected
        "print(session.ppid(), ' '.join(session.parent().cmdline()), *own)\n"
    )
    with forkserver.shared(environ):
        completed = subprocess.run([sys.executable, "-c", client], cwd=tmp_path, env=environ | dict(
            {forkserver.SHARED_ENV: os.environ[forkserver.SHARED_ENV]}), capture_output=True, text=True, check=True)
        listener, *command_line, own = completed.stdout.split()
        assert own == "False", "the client started a server of its own"
        assert "listen" in command_line
    assert gone(int(listener)), "the shared server outlived its with-block, which waits for it"


def test_a_script_beside_a_web_stack_gets_it_preloaded_and_prints_the_same(tmp_path: Path) -> None:
    """Chapter 17's request.py: a script whose folder imports ``SCRIPT_EXTRAS`` is forked, once their
    server has started in the background, from a server that has imported them too. It prints what
    a new process prints; a test run in the same folder never gets them (anyio is a pytest plugin)."""
    (tmp_path / "api.py").write_text("import httpx\n\n\ndef get(path):\n"
                                     "    raise RuntimeError(f'no server for {path}')\n")
    (tmp_path / "request.py").write_text("import sys\n\nfrom api import get\n\nprint(get(sys.argv[1]))\n")
    (tmp_path / "preloaded.py").write_text("import sys\nprint('httpx' in vars(sys)['modules'])\n")
    (tmp_path / "test_plain.py").write_text(
        "import sys\n\n\ndef test_nothing_extra():\n    assert 'httpx' not in sys.modules\n")
    environ = command_environ(os.environ)
    forkserver._close_servers()
    deadline = time.monotonic() + SAFETY_NET
    while forkserver.run_python(["preloaded.py"], cwd=str(tmp_path), environ=environ, timeout=60).output != "True\n":
        assert time.monotonic() < deadline, "the web stack's server never became ready"
        time.sleep(0.05)
    forked = forkserver.run_python(["request.py", "/users"], cwd=str(tmp_path), environ=environ, timeout=60)
    new_process = forkserver.run_python(["request.py", "/users"], cwd=str(tmp_path),
                                        environ={**environ, forkserver.DISABLE_ENV: "0"}, timeout=60)
    assert forked == new_process
    assert forked.returncode == 1 and "RuntimeError: no server for /users" in forked.output
    tests = forkserver.run_python(["-m", "pytest", "-p", "no:nbval", "-p", "no:cacheprovider", "-qq", "test_plain.py"],
                                  cwd=str(tmp_path), environ=environ, timeout=60)
    assert tests.returncode == 0, tests.output
    forkserver._close_servers()
