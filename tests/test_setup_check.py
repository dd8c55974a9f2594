"""The setup check gives a verdict on any kernel, even one without the book's packages.

A reader in VS Code or conda often runs a notebook on the wrong kernel. We run chapter 0
on a real kernel that has nothing but ``ipykernel`` (a virtualenv of its own, made once
per project virtualenv) and expect ✘ lines with their fixes and a ✘ verdict: no error.
Both editions: the book's (opened with ``bash run.sh lab``) and the learner's (opened
with ``bash run.sh workshop``), whose fixes must name the command that opens it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from booktools import installer
from booktools.paths import locked
from booktools.student_edition import FULL_EDITION_COMMAND, LEARNER_EDITION_COMMAND, make_learner

ROOT = Path(__file__).resolve().parents[1]
SETUP_CHECK = ROOT / "notebooks" / "00-setup-check.ipynb"


@pytest.fixture(scope="session")
def bare_kernel_python() -> Path:
    """A Python with only ipykernel (the book's pin) and what it needs."""
    wanted = f"ipykernel=={version('ipykernel')}"
    folder = Path(sys.prefix) / "booktools-sandboxes" / "bare-kernel"
    folder.parent.mkdir(exist_ok=True)
    with locked(folder.parent / "bare-kernel.lock"):
        stamp = folder / "installed.txt"
        if not (stamp.is_file() and stamp.read_text() == wanted):
            subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(folder)], check=True)
            subprocess.run(
                [*installer.pip_install(python=str(folder / "bin" / "python")), wanted],
                check=True, capture_output=True, timeout=600,
            )
            stamp.write_text(wanted)
    return folder / "bin" / "python"


@pytest.mark.parametrize("edition", ["full", "learner"])
def test_the_setup_check_on_a_kernel_without_the_books_packages_ends_in_a_verdict(
    edition: str, bare_kernel_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "kernels" / "bare"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(bare_kernel_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python with ipykernel only",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    # nbformat has no type annotations.
    if edition == "full":
        path, command, other = SETUP_CHECK, FULL_EDITION_COMMAND, LEARNER_EDITION_COMMAND
    else:
        (path,) = make_learner(tmp_path / "learner", names=[SETUP_CHECK.stem])[0]
        command, other = LEARNER_EDITION_COMMAND, FULL_EDITION_COMMAND
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(notebook, kernel_name="bare", timeout=120,
                   resources={"metadata": {"path": str(path.parent)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert [o for o in outputs if o.output_type == "error"] == []
    assert [o for o in outputs if o.output_type == "stream" and o.name == "stderr"] == []
    printed = "".join(o.text for o in outputs if o.output_type == "stream")
    assert "✘ This kernel cannot import 'booktools'" in printed
    assert "Change Kernel" in printed and command in printed and other not in printed, printed
    assert "✘ alembic command runs" in printed and "bash run.sh setup" in printed, printed
    assert re.search(r"^✘ \d+ check\(s\) failed", printed, re.MULTILINE), printed
    assert "All checks passed" not in printed
