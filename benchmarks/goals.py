"""What a reader and a contributor feel, measured against the book's goals (``run.sh bench``).

- setting ``.venv`` up with a warm cache: ``bash run.sh setup`` into a new virtualenv;
- a fresh clone to chapter 1 fully executed, warm cache: ``git clone`` (local), ``bash run.sh
  setup``, then every cell of chapter 1 on a new embedded PostgreSQL (its first ``initdb``
  included: the clone runs with a ``TMPDIR`` of its own);
- every chapter's Restart & Run All (``chapter_rows`` measures each);
- ``bash .ci/run`` in that fresh clone: a new ``.venv``, ruff, mypy, the whole suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.timeline import TIMELINE_ENV

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_ONE = "notebooks/01-reproduce-missinggreenlet.ipynb"


@dataclass(frozen=True)
class Goal:
    row: str
    """The table row whose median is the figure (``chapter `` rows: the slowest of them)."""
    limit: float
    says: str


SETUP = Goal("setup, warm cache: bash run.sh setup into a new .venv", 15, "setup ≤ 15 s with a warm cache")
CLONE_TO_CHAPTER = Goal("fresh clone → chapter 1 fully executed, warm cache", 30,
                        "fresh clone → chapter 1 fully executed ≤ 30 s")
CHAPTER = Goal("chapter ", 10, "every chapter's Restart & Run All ≤ 10 s")
CI = Goal("bash .ci/run in a fresh clone", 180, f"bash .ci/run ≤ 3 min on {os.cpu_count()} cores")
GOALS = (SETUP, CLONE_TO_CHAPTER, CHAPTER, CI)


def _timed(command: list[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started, completed


def _environ(**extra: str) -> dict[str, str]:
    """Ours, without what the running benchmark or test run set for itself."""
    dropped = {"VENV", "BOOKTOOLS_PG_STATE", "BOOKTOOLS_SCRATCH", "BOOKTOOLS_FORKSERVER_SHARED", TIMELINE_ENV}
    return {name: value for name, value in os.environ.items() if name not in dropped} | extra


def _checked(what: str, completed: subprocess.CompletedProcess[str]) -> None:
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}"
                           f"{completed.stderr[-3000:]}")


def setup_seconds(runs: int) -> list[float]:
    """``bash run.sh setup`` into a new virtualenv each time, with the caches as they are (warm)."""
    seconds = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-venv-") as folder:
            elapsed, completed = _timed(["bash", "run.sh", "setup"], cwd=ROOT,
                                        env=_environ(VENV=str(Path(folder) / "venv")))
            _checked("bash run.sh setup", completed)
            seconds.append(elapsed)
    return seconds


@contextmanager
def fresh_clone() -> Iterator[Path]:
    """A clone of this repository's committed state, in a folder the PostgreSQL account can enter."""
    parent = Path(tempfile.mkdtemp(prefix="bench-clone-"))
    parent.chmod(0o755)  # as root, PostgreSQL runs as nobody, which must reach the clone's binaries
    try:
        yield parent / "book"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def clone_to_chapter_seconds(clone: Path) -> float:
    """Clone, set up, run chapter 1 top to bottom on a new embedded PostgreSQL; then stop it."""
    tmp = clone.parent / "tmp"
    tmp.mkdir(mode=0o755)
    tmp.chmod(0o755)
    environ = _environ(TMPDIR=str(tmp))
    started = time.perf_counter()
    _checked("git clone", subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], capture_output=True,
                                         text=True, check=False))
    _checked("bash run.sh setup", subprocess.run(["bash", "run.sh", "setup"], cwd=clone, env=environ,
                                                 capture_output=True, text=True, check=False))
    # What Restart & Run All does, from the command line: cells tagged raises-exception may fail.
    _checked("chapter 1", subprocess.run(
        [str(clone / ".venv/bin/jupyter"), "nbconvert", "--to", "notebook", "--execute", "--stdout",
         "--ExecutePreprocessor.timeout=300", CHAPTER_ONE],
        cwd=clone, env=environ, capture_output=True, text=True, check=False))
    elapsed = time.perf_counter() - started
    subprocess.run([str(clone / ".venv/bin/python"), "-m", "booktools", "stop"], cwd=clone, env=environ,
                   capture_output=True, check=False)
    return elapsed


def ci_seconds(clone: Path) -> tuple[float, str]:
    """``bash .ci/run`` in the clone, and how it ended (its summary line, or its exit status)."""
    elapsed, completed = _timed(["bash", ".ci/run"], cwd=clone, env=_environ())
    lines = [line.strip("= ") for line in completed.stdout.splitlines() if " passed" in line or " failed" in line]
    ended = lines[-1] if lines else ""
    if completed.returncode != 0:
        ended = f"FAILED (exit {completed.returncode}) {ended}".strip()
    return elapsed, ended


def verdicts(medians: dict[str, float], notes: dict[str, str]) -> list[str]:
    """One line per goal: its figure, the goal, pass or FAIL (or that it was not measured)."""
    lines = []
    for goal in GOALS:
        if goal is CHAPTER:
            chapters = {name: seconds for name, seconds in medians.items() if name.startswith(CHAPTER.row)}
            if not chapters:
                lines.append(f"not measured    {goal.says}")
                continue
            slowest = max(chapters, key=chapters.__getitem__)
            figure, detail = chapters[slowest], f" (slowest: {slowest.removeprefix(CHAPTER.row)})"
        elif goal.row in medians:
            figure, detail = medians[goal.row], ""
        else:
            lines.append(f"not measured    {goal.says}")
            continue
        failed = "FAILED" in notes.get(goal.row, "")
        verdict = "pass" if figure <= goal.limit and not failed else "FAIL"
        lines.append(f"{verdict}  {figure:7.1f} s  {goal.says}{detail}"
                     + (f": {notes[goal.row]}" if failed else ""))
    return lines
