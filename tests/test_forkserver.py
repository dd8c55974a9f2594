"""A command forked from ``booktools.forkserver`` is indistinguishable from ``python -m alembic``.

Each test runs the same command both ways, in the same project, and compares what it printed
and how it exited: the stored outputs of every chapter rest on this.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from booktools import forkserver
from booktools.forkserver import Completed
from booktools.project import ScratchProject

ProjectFactory = Callable[..., ScratchProject]

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
deadline = time.monotonic() + 20
while len(list(arrived.iterdir())) < 2:
    if time.monotonic() > deadline:
        raise SystemExit("alone: the other command never ran alongside")
    time.sleep(0.05)
print("met")
"""
"""An env.py that waits until two commands are running it at once."""


def run(project: ScratchProject, *args: str, forked: bool, **extra_environ: str) -> Completed:
    """``alembic args`` in the project, as ``run_command`` runs it: forked, or as a new process."""
    environ = {**project.environ(), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "PYTHON_COLORS": "0", **extra_environ}
    if not forked:
        environ[forkserver.DISABLE_ENV] = "0"
    return forkserver.run_module("alembic", args, cwd=str(project.root), environ=environ, timeout=60)


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
    project.write("migrations/env.py", "import time\ntime.sleep(60)\n")
    environ = {**project.environ(), "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    with pytest.raises(forkserver.CommandTimeout):
        forkserver.run_module("alembic", ["current"], cwd=str(project.root), environ=environ, timeout=1)
    assert time.perf_counter() - started < 10
    assert forkserver.run_module("alembic", ["--version"], cwd=str(project.root), environ=environ,
                                 timeout=60).returncode == 0


def test_the_server_leaves_with_its_client(tmp_path: Path) -> None:
    """A client that exits without cleaning up (a kernel killed) leaves no server behind."""
    code = (
        "import os\n"
        "from booktools import forkserver\n"
        "forkserver.run_module('alembic', ['--version'], cwd='.', environ=dict(os.environ), timeout=60)\n"
        "print(*(server._process.pid for pool in forkserver._idle.values() for server in pool))\n"
        "os._exit(0)\n"  # no atexit, as if killed
    )
    completed = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                               check=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    (server,) = map(int, completed.stdout.split())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(server) and psutil.Process(server).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"the fork server {server} outlived its client by 10 s"
        time.sleep(0.05)
