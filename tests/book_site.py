"""The book built as HTML, once per test run, for the tests that read it (``test_book.py``) and
the ones that open it in a browser (``test_browser.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from booktools.paths import locked

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


@dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    """stdout and stderr of ``jupyter-book build``."""
    html: Path


def built_book(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """``jupyter-book build -W -n --keep-going`` of the repository, once per test run.

    The first test module to ask builds, into the run's temporary folder; any other reuses
    that build. Under pytest-xdist the workers share the parent of their temporary folders,
    and a lock makes a second worker wait for the first one's build instead of starting its own.
    """
    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_folder = run_folder.parent
    output = run_folder / "book"
    record = run_folder / "book-build.json"
    with locked(run_folder / "book-build.lock"):
        if not record.is_file():
            completed = subprocess.run(
                [str(JUPYTER_BOOK), "build", "-W", "-n", "--keep-going", "--path-output", str(output), str(ROOT)],
                capture_output=True,
                text=True,
                check=False,
                cwd=ROOT,
            )
            log = completed.stdout + completed.stderr
            record.write_text(json.dumps({"returncode": completed.returncode, "log": log}))
    built = json.loads(record.read_text())
    return Build(built["returncode"], built["log"], output / "_build" / "html")


def site_of(build: Build) -> Path:
    """The built HTML folder; the test fails, showing the build's log, if there is none."""
    if not (build.html / "index.html").is_file():
        pytest.fail(f"The book was not built:\n{build.log[-6000:]}")
    return build.html
