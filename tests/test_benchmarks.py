"""``python -m benchmarks`` counts the suite's processes right and reports medians against floors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import goals
from benchmarks.__main__ import COUNTER, IDLE_PART, WORKERS, Row, classify, suite_parts


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        ([sys.executable, "-m", "ipykernel_launcher", "-f", "/tmp/kernel.json"], "kernel starts"),
        ([sys.executable, "-m", "alembic", "upgrade", "head"], "alembic processes"),
        ([sys.executable, "-c", "__import__('booktools.forkserver').forkserver.main()", "serve"], "fork server starts"),
        ([sys.executable, "-m", "pytest", "-n", "2"], "pytest start-ups, whole suite"),
        ([sys.executable, "-u", "-c", "import sys;exec(eval(sys.stdin.readline()))"], "pytest start-ups, whole suite"),
        ([sys.executable, "-m", "pytest", "-q"], "pytest start-ups, a chapter's"),
        ([sys.executable, "-S", "-c", "import sqlalchemy"], "other Python processes"),
    ],
    ids=["kernel", "alembic", "fork-server", "pytest", "xdist-worker", "chapter-pytest", "other"],
)
def test_processes_are_classified(argv: list[str], kind: str) -> None:
    assert classify(argv) == kind


def test_every_python_process_logs_its_command_line(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(COUNTER)
    log = tmp_path / "processes.log"
    environ = {**os.environ, "PYTHONPATH": str(tmp_path), "BENCHMARK_PROCESS_LOG": str(log)}
    subprocess.run([sys.executable, "-m", "alembic", "--version"], env=environ, check=True, capture_output=True)
    assert [json.loads(line)[1:] for line in log.read_text().splitlines()] == [["-m", "alembic", "--version"]]


def test_a_row_shows_median_spread_and_ratio_to_its_floor() -> None:
    row = Row("embedded server", [0.3, 0.2, 0.25], [0.8, 0.7, 0.75], "interleaved")
    assert row.cells() == ["embedded server", "0.250", "0.200–0.300", "3", "0.750 s → 0.33×", "interleaved"]


def test_the_suites_time_is_split_into_parts_and_what_no_test_used() -> None:
    timeline = [
        ("tests/test_browser.py::test_page_in_a_browser[landing]", 0.0, 15.0),
        ("notebooks/01-reproduce-missinggreenlet.ipynb::Cell 0", 15.0, 16.0),
        ("tests/test_postgres.py::test_databases_are_isolated", 1.0, 4.0),
    ]
    parts = suite_parts(timeline, wall=20.0)
    assert list(parts.values()) == [15.0, 1.0, 3.0, 20.0 * WORKERS - 19.0]
    assert list(parts)[-1] == IDLE_PART


def test_each_goal_is_printed_with_its_figure_and_a_verdict() -> None:
    medians = {goals.SETUP.row: 9.7, "chapter 01-first": 4.0, "chapter 13-slow": 11.5, goals.CI.row: 150.0}
    lines = goals.verdicts(medians, {goals.CI.row: "821 passed in 90.00s"})
    assert lines == [
        "pass      9.7 s  setup ≤ 15 s with a warm cache",
        "not measured    fresh clone → chapter 1 fully executed ≤ 30 s",
        "FAIL     11.5 s  every chapter's Restart & Run All ≤ 10 s (slowest: 13-slow)",
        f"pass    150.0 s  {goals.CI.says}",
    ]


def test_a_failed_ci_run_fails_its_goal_however_fast() -> None:
    (line,) = [line for line in goals.verdicts({goals.CI.row: 100.0}, {goals.CI.row: "FAILED (exit 1) 2 failed"})
               if goals.CI.says in line]
    assert line.startswith("FAIL") and line.endswith(": FAILED (exit 1) 2 failed")
