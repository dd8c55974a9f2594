"""A learner's session with chapter 4's env.py exercise, as ``bash run.sh workshop`` sets it up.

The learner edition runs in a kernel whose folder holds ``scratch/`` (``BOOKTOOLS_SCRATCH``),
as JupyterLab runs it, from the top to the cells after the check: with the generated
``env.py`` the check fails and the cells after it refuse, saying why, and change nothing;
with the learner's edit (the ``async`` variant's ``env.py``, saved long ago) *Run All* in the
same kernel and then *Restart & Run All* in a new one keep the edit, its content and its
modification time, and pass; no check leaves a project behind.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from booktools.paths import SCRATCH_ENV
from booktools.project import env_example
from booktools.student_edition import CHECK_TAG, make_learner

STEM = "04-async-env-py"
CHAPTER = f"workshop-{STEM}"
"""The chapter's name in this test: a database and project of its own, as nbval may run chapter 4 meanwhile."""
LONG_AGO = 1_700_000_000
ANSWERS = (r"connectable = async_engine\b", r"url = async_engine\.url", r"target_metadata = Base\.metadata")
"""The lines the learner writes (``async_engine_from_config``, which the template has, is not one)."""


def learner_cells(folder: Path) -> tuple[Any, dict[str, int]]:
    """Chapter 4's learner notebook as far as its first command after the check, and where its cells are."""
    (path,) = make_learner(folder, names=[STEM])[0]
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]  # nbformat has no hints
    cells = notebook.cells
    at = {
        "link": next(i for i, cell in enumerate(cells) if "book.file_link(" in cell.source),
        "check": next(i for i, cell in enumerate(cells) if CHECK_TAG in cell.metadata.get("tags", [])),
        "ini": next(i for i, cell in enumerate(cells) if 'project.write("alembic.ini"' in cell.source),
        "autogenerate": next(i for i, cell in enumerate(cells) if '"revision", "--autogenerate"' in cell.source),
    }
    assert at["link"] < at["check"] < at["ini"] < at["autogenerate"]
    notebook.cells = cells[: at["autogenerate"] + 1]
    setup = next(cell for cell in notebook.cells if "book.start_chapter(" in cell.source)
    setup.source = setup.source.replace(f'start_chapter("{STEM}"', f'start_chapter("{CHAPTER}"')
    for name in ("check", "ini", "autogenerate"):  # their errors are what this test reads
        cells[at[name]].metadata["tags"] = [*cells[at[name]].metadata.get("tags", []), "raises-exception"]
    return notebook, at


def run_all(client: NotebookClient, notebook: Any) -> list[Any]:
    """Every cell in order in the client's kernel, as *Run All* does; the cells with their outputs."""
    cells = copy.deepcopy(notebook.cells)
    for index, cell in enumerate(cells):
        client.execute_cell(cell, index)
    return list(cells)


def text(cell: Any) -> str:
    return "\n".join(
        output.get("text", "") or output.get("evalue", "") or output.get("data", {}).get("text/markdown", "")
        for output in cell.get("outputs", [])
    )


def error(cell: Any) -> str:
    errors = [f"{output.ename}: {output.evalue}" for output in cell.outputs if output.output_type == "error"]
    return errors[0] if errors else ""


def test_the_learners_env_py_survives_run_all_and_the_cells_after_the_check_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook, at = learner_cells(tmp_path)
    scratch = tmp_path / "scratch"
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))  # what run.sh workshop sets; the kernel inherits it
    env_py = scratch / CHAPTER / "migrations" / "env.py"
    ini = scratch / CHAPTER / "alembic.ini"
    client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        cells = run_all(client, notebook)
        assert error(cells[at["check"]]).startswith("AssertionError: `alembic revision` failed with your env.py")
        generated_env_py, generated_ini = env_py.read_text(), ini.read_text()
        for name in ("ini", "autogenerate"):  # running ahead: one line, and nothing changed
            assert error(cells[at[name]]) == (
                "NotChecked: Not yet: your migrations/env.py has not passed the exercise's check. "
                "Run the check cell above until it says ✔ Right; the cells from here on use your file."
            )
        assert env_py.read_text() == generated_env_py and ini.read_text() == generated_ini
        assert "sqlalchemy.url = driver://" in generated_ini
        assert not (scratch / CHAPTER / "migrations" / "versions" / "0001_create_users.py").exists()

        # The learner's edit, saved by JupyterLab's editor (long ago, to tell its mtime apart).
        shutil.copy(env_example("async") / "migrations" / "env.py", env_py)
        os.utime(env_py, (LONG_AGO, LONG_AGO))
        edited = env_py.read_text()
        cells = run_all(client, notebook)  # Run All, same kernel
    for run in (cells, run_all_in_a_new_kernel(notebook, tmp_path)):  # then Restart & Run All
        assert "This is your `migrations/env.py`, kept from before" in text(run[at["link"]])
        assert not error(run[at["check"]]) and "✔ Right: your env.py migrates" in text(run[at["check"]])
        assert not error(run[at["ini"]]) and not error(run[at["autogenerate"]])
        assert env_py.read_text() == edited and env_py.stat().st_mtime == LONG_AGO
    left = sorted(str(path.relative_to(scratch)) for path in scratch.rglob("*check*"))
    assert not left, f"a check left its project behind: {left}"
    assert [path.name for path in scratch.iterdir() if not path.name.startswith(".")] == [CHAPTER]


def run_all_in_a_new_kernel(notebook: Any, folder: Path) -> list[Any]:
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel():
        return run_all(client, notebook)


def test_nothing_before_the_exercise_shows_its_answer(tmp_path: Path) -> None:
    """Chapter 4's cells above its env.py check, sources and stored outputs, hold none of the lines to write."""
    notebook, at = learner_cells(tmp_path)
    full = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / f"{STEM}.ipynb", as_version=4)  # type: ignore[no-untyped-call]  # nbformat has no hints
    start = next(i for i, cell in enumerate(full.cells) if "{exercise-start}" in cell.source)
    shown = [cell.source + "\n" + text(cell) for cell in full.cells[:start]]
    shown += [cell.source for cell in notebook.cells[: at["check"]]]
    leaks = sorted({answer for answer in ANSWERS for cell in shown if re.search(answer, cell)})
    assert not leaks, f"shown before the exercise: {leaks}"
