"""``python -m benchmarks``: how fast the book's machinery is, measured, as one table.

Each row is a median over several runs with its spread (min–max), and, where the row has
one, the floor it is compared with, measured in the same run:

- a fixed pure-Python loop: the machine's speed at the time, to compare tables taken apart;

- a new embedded server until ready, against bare ``initdb`` + ``pg_ctl start`` (interleaved);
- reusing a running server (attach + one admin connection);
- the whole suite (``bash run.sh test``'s command), against its floor: the kernel starts,
  ``alembic`` commands (new processes, fork servers started, commands forked) and pytest
  start-ups the suite contains, each counted in that same run and timed here, summed and
  divided by the workers; and where the suite's time went, part by part (``timeline.py``);
- each chapter's Restart & Run All (nbclient: kernel start, every cell, shutdown);
- a clean build of the HTML book;
- the goals (``goals.py``): setup, a fresh clone to chapter 1, ``bash .ci/run``, each printed
  at the end with every chapter's against its goal, pass or FAIL (exit status 1 if one fails).

Slow parts can be skipped (``--skip-suite``, ``--skip-chapters``, ``--skip-book``,
``--skip-goals``, ``--skip-ci``, or ``--quick`` for all of them). Run it on an otherwise idle
machine: other jobs on the same cores make every figure larger (the ratios less so).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import goals
from benchmarks.timeline import TIMELINE_ENV
from booktools.forkserver_process import LOG_ENV

if TYPE_CHECKING:
    from booktools.postgres import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
WORKERS = 3
"""``bash run.sh test`` runs ``pytest -n 3``: three workers, even on two cores (run.sh says why)."""
PARALLEL = min(WORKERS, os.cpu_count() or 1)
"""How many processes really run at once: the floor is divided by this, not by the workers."""

SUITE_COMMAND = [PYTHON, "-m", "pytest", "-n", str(WORKERS), "--dist", "loadscope", "-p", "no:cacheprovider", "-q",
                 "-p", "benchmarks.timeline"]

SUITE_PARTS = {
    "the book: its build, checks, every page in a browser": ("tests/test_book.py", "tests/test_browser.py"),
    "the chapters under nbval: kernel start, every cell": ("notebooks/",),
    "the other tests in tests/": ("tests/",),
}
"""Where the suite's time goes: each test counts in the first part whose prefix its node id has."""
IDLE_PART = "workers between tests: start-up, waiting for work, wind-down"

COUNTER = '''\
import json, os, sys
with open(os.environ["BENCHMARK_PROCESS_LOG"], "a") as log:
    log.write(json.dumps(sys.orig_argv) + "\\n")
'''
"""A ``sitecustomize`` for the suite run: every Python process that starts logs its command line."""


@dataclass
class Row:
    what: str
    seconds: list[float]
    floor: list[float] = field(default_factory=list)
    note: str = ""

    def cells(self) -> list[str]:
        median = statistics.median(self.seconds)
        spread = f"{min(self.seconds):.3f}–{max(self.seconds):.3f}" if len(self.seconds) > 1 else "–"
        against = ""
        if self.floor:
            floor = statistics.median(self.floor)
            against = f"{floor:.3f} s → {median / floor:.2f}×"
        return [self.what, f"{median:.3f}", spread, str(len(self.seconds)), against, self.note]


def print_table(rows: list[Row]) -> None:
    header = ["measure", "median s", "spread s", "runs", "floor → ratio", "note"]
    table = [header, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for number, line in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, **kwargs)


# --- the machine ------------------------------------------------------------------------


def spin() -> None:
    total = 0
    for number in range(10_000_000):
        total += number


def machine_rows(runs: int) -> list[Row]:
    """The same pure-Python loop each time: a shared machine's speed drifts (here, 30 % within
    seven minutes), so tables taken at different times are compared through this row."""
    return [Row("a fixed pure-Python loop", [timed(spin) for _ in range(runs)],
                note="this machine's speed at the start: 10 million additions")]


# --- the embedded server ------------------------------------------------------------------


def bare_ready_seconds(workdir: Path) -> float:
    """``initdb`` + ``pg_ctl start -w`` as the facts file measures the floor; stopped after timing."""
    from booktools.pgwheel import as_runner, install_dir, major, runner

    account = runner()
    install = install_dir(account, major())
    password_file = workdir / "pw"
    password_file.write_text("bare\n")
    if account is not None:
        os.chown(workdir, account.pw_uid, account.pw_gid)
        os.chown(password_file, account.pw_uid, account.pw_gid)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = workdir / "data"
    pg_ctl = [str(install / "bin" / "pg_ctl"), "-D", str(data)]
    started = time.perf_counter()
    run([str(install / "bin" / "initdb"), "-D", str(data), "--auth=scram-sha-256", f"--pwfile={password_file}",
         "-E", "UTF8", "-U", "postgres"], **as_runner(account))
    run([*pg_ctl, "-w", "-l", str(workdir / "log"), "-o", f"-h 127.0.0.1 -p {port} -k ''", "start"],
        **as_runner(account))
    elapsed = time.perf_counter() - started
    run([*pg_ctl, "-w", "-m", "fast", "stop"], **as_runner(account))
    return elapsed


def reuse_server(instance: EmbeddedPostgres) -> None:
    """What a notebook's second start_chapter() does with a running server."""
    server = instance.attach()
    if server is None:
        raise RuntimeError(f"no server runs in {instance.directory}")
    server.connect_admin().close()


def server_rows(runs: int) -> list[Row]:
    from booktools.postgres import EmbeddedPostgres, embedded_postgres

    ours, bare, reuse = [], [], []
    for _ in range(runs):
        # Each side stops its server (waited for) before the other starts: neither pays for the other.
        started = time.perf_counter()
        with embedded_postgres() as instance:
            ours.append(time.perf_counter() - started)
            reuse.append(timed(functools.partial(reuse_server, EmbeddedPostgres(instance.directory))))
        with tempfile.TemporaryDirectory(dir="/tmp") as workdir:
            Path(workdir).chmod(0o755)
            bare.append(bare_ready_seconds(Path(workdir)))
    return [
        Row("embedded server, new, until ready", ours, bare, "floor: bare initdb + pg_ctl start, interleaved"),
        Row("embedded server, reused", reuse, note="attach + one admin connection"),
    ]


# --- the floor of the suite ---------------------------------------------------------------


def kernel_seconds() -> float:
    """A kernel started, one (empty) cell run, the kernel shut down: what each notebook costs at least."""
    from jupyter_client.manager import start_new_kernel

    started = time.perf_counter()
    # Its stderr (a warning that the kernel talks over local TCP) would land in the table.
    manager, client = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
    client.execute_interactive("pass", timeout=60)
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    return time.perf_counter() - started


def alembic_process_seconds() -> float:
    """A Python process importing what every ``alembic`` command of the book imports."""
    return timed(lambda: run([PYTHON, "-c", "import alembic.command, sqlalchemy.ext.asyncio, asyncpg"]))


def fork_server_seconds() -> float:
    """A fork server started until ready (it has imported what it preloads), then stopped."""
    from booktools import forkserver
    from booktools.project import command_environ

    started = time.perf_counter()
    server = forkserver._Server.start((), forkserver.PRELOADED, command_environ(os.environ))
    elapsed = time.perf_counter() - started
    server.close()
    return elapsed


def forked_alembic_seconds() -> float:
    """The least a forked command (``alembic``, a chapter's ``pytest`` run or script) costs:
    ``alembic --version`` from a running server."""
    from booktools import forkserver
    from booktools.project import command_environ

    environ = {name: value for name, value in command_environ(os.environ).items() if name != forkserver.SHARED_ENV}
    version = functools.partial(forkserver.run_python, ["-m", "alembic", "--version"], cwd=str(ROOT),
                                environ=environ, timeout=60)
    version()  # the server's start is fork_server_seconds()'s
    return timed(version)


def pytest_start_seconds() -> float:
    """A pytest start-up as each worker makes it: plugins loaded, the whole suite collected."""
    return timed(lambda: run([PYTHON, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]))


def project_pytest_start_seconds() -> float:
    """A pytest start-up in a folder with no tests: what a chapter's own test run pays before its tests."""
    with tempfile.TemporaryDirectory() as folder:
        return timed(lambda: subprocess.run([PYTHON, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                                            cwd=folder, capture_output=True, check=False))


UNITS: dict[str, Callable[[], float]] = {
    "kernel starts": kernel_seconds,
    "alembic processes": alembic_process_seconds,
    "fork server starts": fork_server_seconds,
    "forked commands": forked_alembic_seconds,
    "pytest start-ups, whole suite": pytest_start_seconds,
    "pytest start-ups, a chapter's": project_pytest_start_seconds,
}
"""What the floor counts, each with how one of them is timed."""


def classify(argv: list[str]) -> str:
    arguments = argv[1:]
    if arguments[:2] == ["-m", "ipykernel_launcher"]:
        return "kernel starts"
    if arguments[:2] == ["-m", "alembic"]:
        return "alembic processes"
    if arguments[:1] == ["-c"] and "booktools.forkserver" in arguments[1]:
        return "fork server starts"
    if arguments[:2] == ["-m", "pytest"] and ("-n" in arguments or "--collect-only" in arguments):
        return "pytest start-ups, whole suite"  # the controller (and a run that collects the suite)
    if any("sys.stdin.readline" in a for a in arguments):
        return "pytest start-ups, whole suite"  # the xdist workers, which execnet starts with -c
    if arguments[:2] == ["-m", "pytest"]:
        return "pytest start-ups, a chapter's"
    return "other Python processes"


def part_of(nodeid: str) -> str:
    return next(part for part, prefixes in SUITE_PARTS.items() if nodeid.startswith(prefixes))


def suite_parts(timeline: list[tuple[str, float, float]], wall: float) -> dict[str, float]:
    """Worker-seconds per part of the suite; what the workers' wall time holds beyond their tests is idle."""
    parts = dict.fromkeys([*SUITE_PARTS, IDLE_PART], 0.0)
    for nodeid, started, ended in timeline:
        parts[part_of(nodeid)] += ended - started
    parts[IDLE_PART] = max(0.0, wall * WORKERS - sum(parts.values()))
    return parts


@dataclass
class Suite:
    wall: float
    idle: float | None
    """Core-seconds the whole machine's cores spent idle during the run (None: not on Linux)."""
    counts: Counter[str]
    parts: dict[str, float]
    summary: str
    failures: list[str]


def idle_core_seconds() -> float | None:
    """Seconds all cores together have spent idle or waiting on disk since boot (Linux's /proc/stat)."""
    try:
        cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return (int(cpu[4]) + int(cpu[5])) / os.sysconf("SC_CLK_TCK")


def run_suite() -> Suite:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "sitecustomize.py").write_text(COUNTER)
        log, forked = Path(folder, "processes.log"), Path(folder, "forked.log")
        timeline = Path(folder, "timeline")
        log.touch()
        forked.touch()
        timeline.mkdir()
        # ROOT on the path: the workers import benchmarks.timeline before any conftest.py adds it.
        environ = {**os.environ, "BENCHMARK_PROCESS_LOG": str(log), LOG_ENV: str(forked), TIMELINE_ENV: str(timeline),
                   "PYTHONPATH": os.pathsep.join(filter(None, [folder, str(ROOT), os.environ.get("PYTHONPATH")]))}
        idle_before, started = idle_core_seconds(), time.perf_counter()
        completed = subprocess.run(SUITE_COMMAND, cwd=ROOT, env=environ, capture_output=True, text=True, check=False)
        wall, idle_after = time.perf_counter() - started, idle_core_seconds()
        counts = Counter(classify(json.loads(line)) for line in log.read_text().splitlines())
        commands = [json.loads(line) for line in forked.read_text().splitlines()]
        counts["forked commands"] = len(commands)  # alembic, the chapters' pytest runs and scripts
        tests = [(nodeid, test_start, test_end) for path in timeline.iterdir()
                 for nodeid, test_start, test_end in map(json.loads, path.read_text().splitlines())]
    output = completed.stdout.splitlines()
    lines = [line for line in output if re.search(r"\d+ (passed|failed|error)", line)]
    failures = [line for line in output if line.startswith(("FAILED", "ERROR"))]
    summary = lines[-1].strip("= ") if lines else f"exit status {completed.returncode}"
    idle = None if idle_before is None or idle_after is None else idle_after - idle_before
    return Suite(wall, idle, counts, suite_parts(tests, wall), summary, failures)


def suite_rows(runs: int, unit_runs: int) -> list[Row]:
    suites = [run_suite() for _ in range(runs)]
    for number, suite in enumerate(suites, 1):
        for failure in suite.failures:
            # A failing run's time says little: say which run failed and why, to read its figure with that in mind.
            print(f"suite run {number} of {runs} ({suite.wall:.1f} s): {failure}", file=sys.stderr)
    units: dict[str, list[float]] = {kind: [] for kind in UNITS}
    for _ in range(unit_runs):
        for kind, measure in UNITS.items():
            units[kind].append(measure())
    counts = suites[-1].counts
    floor = sum(counts[kind] * statistics.median(seconds) for kind, seconds in units.items()) / PARALLEL
    rows = [Row(f"one of: {kind}", seconds, note=f"the suite has {counts[kind]}") for kind, seconds in units.items()]
    rows.append(Row(
        "whole suite (run.sh test)", [suite.wall for suite in suites], [floor],
        f"{suites[-1].summary}; floor = Σ count × unit / {PARALLEL} cores; 1.5 × floor = {1.5 * floor:.1f} s; "
        f"+{counts['other Python processes']} other Python processes, not in the floor",
    ))
    rows += [Row(f"suite part: {part}", [suite.parts[part] for suite in suites],
                 note=f"worker-seconds, floor's share included (÷ {WORKERS} for wall time)")
             for part in suites[-1].parts]
    idle = [suite.idle for suite in suites if suite.idle is not None]
    if idle:
        rows.append(Row("suite: cores idle", idle, note=f"core-seconds, of {os.cpu_count()} cores × the wall time; "
                        "machine-wide (anything else running makes it smaller)"))
    return rows


# --- chapters and the book ----------------------------------------------------------------


@contextlib.contextmanager
def own_server() -> Iterator[None]:
    """A server and scratch folder of our own for the kernels, as the pytest plugin gives a test run."""
    from booktools.paths import SCRATCH_ENV
    from booktools.postgres import STATE_ENV, embedded_postgres

    saved = {name: os.environ.get(name) for name in (STATE_ENV, SCRATCH_ENV)}
    with embedded_postgres() as instance, tempfile.TemporaryDirectory(prefix="booktools-scratch-bench-") as scratch:
        os.environ[STATE_ENV] = str(instance.directory)
        os.environ[SCRATCH_ENV] = scratch
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def chapter_rows(runs: int, only: Sequence[str] = ()) -> list[Row]:
    """Restart & Run All of each notebook, as a learner does it (cells tagged raises-exception may fail);
    with ``only``, of the notebooks whose file names start with one of them (``12``, ``21-migr``)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    rows = []
    with own_server():
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            if only and not path.name.startswith(tuple(only)):
                continue
            seconds, failed = [], ""
            for _ in range(runs):
                notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]  # nbformat has no hints
                client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                                        resources={"metadata": {"path": str(path.parent)}})
                started = time.perf_counter()
                try:
                    client.execute(stderr=subprocess.DEVNULL)  # as kernel_seconds(): no warning in the table
                except CellExecutionError as error:
                    # A broken chapter is reported, not fatal: its time up to the error says little.
                    failed = f"FAILED: {str(error).strip().splitlines()[-1][:80]}"
                seconds.append(time.perf_counter() - started)
            note = failed or ("over the 10 s budget" if min(seconds) > 10 else "")
            rows.append(Row(f"chapter {path.stem}", seconds, note=note))
    return rows


def book_rows(runs: int) -> list[Row]:
    jupyter_book = str(Path(PYTHON).parent / "jupyter-book")
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as output:
            command = [jupyter_book, "build", "-W", "-n", "--keep-going", "--path-output", output, str(ROOT)]
            seconds.append(timed(functools.partial(run, command)))
    return [Row("book build, clean", seconds, note="jupyter-book build -W -n into an empty folder")]


def goal_rows(setup_runs: int, *, ci: bool) -> list[Row]:
    rows = [Row(goals.SETUP.row, goals.setup_seconds(setup_runs), note="uv when run.sh finds or installs it")]
    with goals.fresh_clone() as clone:
        rows.append(Row(goals.CLONE_TO_CHAPTER.row, [goals.clone_to_chapter_seconds(clone)],
                        note="local clone; a new PostgreSQL, its initdb included"))
        if ci:
            seconds, ended = goals.ci_seconds(clone)
            rows.append(Row(goals.CI.row, [seconds], note=ended))
    return rows


def print_goals(rows: list[Row]) -> bool:
    """Each goal against its figure; whether all that were measured hold."""
    medians = {row.what: statistics.median(row.seconds) for row in rows}
    print(f"goals (the machine's speed: the fixed loop took {medians['a fixed pure-Python loop']:.2f} s):")
    lines = goals.verdicts(medians, {row.what: row.note for row in rows})
    for line in lines:
        print(f"  {line}")
    return not any(line.startswith("FAIL") for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each quick measure (default 5)")
    parser.add_argument("--suite-runs", type=int, default=1, help="whole-suite runs (default 1: about a minute each)")
    parser.add_argument("--chapter-runs", type=int, default=1, help="runs of each chapter (default 1)")
    parser.add_argument("--chapter", action="append", default=[], metavar="PREFIX",
                        help="only chapters whose file names start with PREFIX (repeatable: --chapter 12 --chapter 21)")
    parser.add_argument("--book-runs", type=int, default=1, help="clean book builds (default 1)")
    parser.add_argument("--skip-suite", action="store_true", help="skip the whole suite and its floor")
    parser.add_argument("--skip-chapters", action="store_true", help="skip running each chapter")
    parser.add_argument("--skip-book", action="store_true", help="skip the book build")
    parser.add_argument("--skip-goals", action="store_true", help="skip timing setup, a fresh clone and .ci/run")
    parser.add_argument("--skip-ci", action="store_true", help="skip timing bash .ci/run in the fresh clone")
    parser.add_argument("--setup-runs", type=int, default=3, help="timed setups of a new .venv (default 3)")
    parser.add_argument("--quick", action="store_true", help="skip all the slow parts")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    arguments = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load:.2f} at the start"
          + (" (busy: figures will be high)" if load > 0.5 else ""), flush=True)
    sections: list[Callable[[], list[Row]]] = [functools.partial(machine_rows, arguments.runs),
                                               functools.partial(server_rows, arguments.runs)]
    if not (arguments.skip_suite or arguments.quick):
        sections.append(functools.partial(suite_rows, arguments.suite_runs, arguments.runs))
    if not (arguments.skip_chapters or arguments.quick):
        sections.append(functools.partial(chapter_rows, arguments.chapter_runs, arguments.chapter))
    if not (arguments.skip_book or arguments.quick):
        sections.append(functools.partial(book_rows, arguments.book_runs))
    if not (arguments.skip_goals or arguments.quick):
        sections.append(functools.partial(goal_rows, arguments.setup_runs, ci=not arguments.skip_ci))
    rows: list[Row] = []
    for section in sections:
        # Each part's table as soon as it is measured: a later part that fails costs no figures.
        measured = section()
        print_table(measured)
        print(flush=True)
        rows += measured
        if arguments.json:
            arguments.json.write_text(json.dumps([row.__dict__ for row in rows], indent=2))
    return 0 if print_goals(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
