"""The editions without solutions keep every exercise and check, and give no answer away.

The learner edition's own checks (``test_learner_chapter_...``): a learner notebook is
valid, carries no output at all, runs in a fresh kernel from the top to its first
exercise check exactly as the full chapter does (every deliberate error the same error),
and that check, with the exercise untouched, fails with an ``AssertionError`` that hints
and does not answer. Three chapters run (1 and 4, the workshop's first exercises, and 6,
whose cells display chapter 4's answer); the rest of each learner notebook depends on
what the learner writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from booktools.errors import BookToolsError
from booktools.student_edition import (
    CHECK_TAG,
    FULL_EDITION_COMMAND,
    IN_FULL_EDITION,
    LEARNER_EDITION_COMMAND,
    RUN_THE_CHECK,
    learner_notebook,
    make_learner,
    site_url,
    without_solutions,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SITE = "https://example.org/book/"

Notebook = dict[str, Any]


def text(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def solution_cell_sources(notebook: Notebook) -> set[str]:
    """The sources of the cells strictly between each solution-start and solution-end."""
    sources, inside = set(), False
    for cell in notebook["cells"]:
        source = text(cell)
        if "{solution-start}" in source:
            inside = True
        elif "{solution-end}" in source:
            inside = False
        elif inside:
            sources.add(source)
    return sources


def displayed(cell: Any) -> str:
    """What a code cell's outputs show as text: printed lines, and text or Markdown results."""
    parts = [output.get("text", "") for output in cell.get("outputs", [])]
    parts += [output.get("data", {}).get(kind, "") for output in cell.get("outputs", [])
              for kind in ("text/plain", "text/markdown")]
    return "\n".join("".join(part) for part in parts)


def exercises_in(notebook: Notebook) -> int:
    return sum("{exercise-start}" in text(cell) for cell in notebook["cells"])


def test_an_unterminated_solution_is_an_error() -> None:
    cell = {"cell_type": "markdown", "metadata": {}, "source": "```{solution-start} ex\n```"}
    with pytest.raises(BookToolsError, match="never ends"):
        without_solutions({"cells": [cell]})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_edition_cuts_solutions_and_keeps_exercises(path: Path) -> None:
    full = json.loads(path.read_text())
    student = without_solutions(full)
    texts = [text(cell) for cell in student["cells"]]
    exercises = exercises_in(full)
    assert not any("{solution-start}" in source or "{solution-end}" in source for source in texts)
    assert sum(IN_FULL_EDITION in source for source in texts) == exercises
    solution_sources = solution_cell_sources(full)
    assert len(solution_sources) >= exercises, "each solution holds at least one cell"
    assert not set(texts) & solution_sources, "a solution cell leaked into the student edition"
    emptied_checks = [c for c in student["cells"] if c["cell_type"] == "code" and c["execution_count"] is None]
    assert len(emptied_checks) == exercises
    assert all(not cell["outputs"] for cell in emptied_checks)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_learner_edition_has_no_solutions_directives_or_outputs(path: Path) -> None:
    full = json.loads(path.read_text())
    learner = learner_notebook(full, site=SITE)
    nbformat.validate(nbformat.from_dict(learner))  # type: ignore[no-untyped-call]  # nbformat has no hints
    texts = [text(cell) for cell in learner["cells"]]
    assert not set(texts) & solution_cell_sources(full), "a solution cell leaked into the learner edition"
    markdown = "\n".join(text(cell) for cell in learner["cells"] if cell["cell_type"] == "markdown")
    assert not re.search(r"^(```|:::)\{", markdown, re.MULTILINE), "a MyST directive would show raw in JupyterLab"
    assert "](../book/" not in markdown, "JupyterLab cannot open the book's prose pages from the learner folder"
    mentions = re.findall(r"[^\n]*\bsolutions?\b[^\n]*", markdown.replace(IN_FULL_EDITION, ""), re.IGNORECASE)
    assert not mentions, f"a learner has no solution to look at or run after: {mentions}"
    checks = [i for i, cell in enumerate(learner["cells"]) if CHECK_TAG in cell["metadata"].get("tags", [])]
    assert len(checks) == exercises_in(full) == sum(RUN_THE_CHECK in source for source in texts)
    executed = [i for i, cell in enumerate(learner["cells"])
                if cell["cell_type"] == "code" and (cell["outputs"] or cell["execution_count"] is not None)]
    assert not executed, f"cells {executed} carry an output the learner has not produced"
    assert not any(FULL_EDITION_COMMAND in source for source in texts), (
        f"the learner edition is opened with {LEARNER_EDITION_COMMAND!r}; {FULL_EDITION_COMMAND!r} opens the solutions"
    )


def test_book_page_links_point_to_the_published_book() -> None:
    full = json.loads((ROOT / "notebooks" / "01-reproduce-missinggreenlet.ipynb").read_text())
    markdown = "\n".join(text(cell) for cell in learner_notebook(full, site=site_url())["cells"])
    assert f"]({site_url()}book/glossary.html#greenlet)" in markdown
    assert site_url().startswith("https://")


def test_make_learner_keeps_what_a_learner_wrote(tmp_path: Path) -> None:
    written, kept = make_learner(tmp_path, names=["07-why-greenlet"])
    assert [path.name for path in written] == ["07-why-greenlet.ipynb"] and not kept
    assert (tmp_path / "scratch").is_dir()
    written[0].write_text(written[0].read_text().replace("answer = ...", "answer = 1"))
    again, kept = make_learner(tmp_path, names=["07-why-greenlet"])
    assert not again and kept == written
    assert "answer = 1" in kept[0].read_text()
    with pytest.raises(BookToolsError, match="No notebook named 99-none"):
        make_learner(tmp_path, names=["99-none"])


# The hint must not give the answer: what the solution writes (for chapter 6, the
# outcome dictionary its old check printed).
ANSWERS = {
    "01-reproduce-missinggreenlet": ("'alembic history': False", "history -i': True", "current': True"),
    "04-async-env-py": ("Base.metadata", "connectable = async_engine", "from app import"),
    "06-alembic-init-async-template": ("': True", "': False", "\": True", "\": False"),
}
# What shows chapter 4's answer when a cell displays it: the engine line of the wired env.py.
SHOWS_AN_ANSWER = {"04-async-env-py": re.compile(r"^\+\s*connectable = async_engine$", re.MULTILINE)}


@pytest.mark.parametrize("stem", sorted(ANSWERS))
def test_learner_chapter_runs_to_its_first_check_and_fails_there_with_a_hint(stem: str, tmp_path: Path) -> None:
    (path,) = make_learner(tmp_path, names=[stem])[0]
    learner = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]  # nbformat has no hints
    check = next(i for i, cell in enumerate(learner.cells) if CHECK_TAG in cell.metadata.get("tags", []))
    # The learner notebook has no outputs: compare with the full chapter's, cell by cell.
    full = without_solutions(json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text()))
    stored = [cell.get("outputs", []) for cell in full["cells"] if cell["cell_type"] == "code"]
    learner.cells = learner.cells[: check + 1]
    # A database of its own: nbval may be running the full chapter on its database right now.
    setup = next(cell for cell in learner.cells if "book.start_chapter(" in cell.source)
    setup.source = setup.source.replace(f'start_chapter("{stem}"', f'start_chapter("learner-{stem}"')
    client = NotebookClient(learner, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as failed:
        client.execute()
    assert failed.value.ename == "AssertionError", f"the check should fail with a hint, not {failed.value.ename}"
    (error,) = [output for output in learner.cells[check].outputs if output.output_type == "error"]
    hint = error.evalue
    assert len(hint) > 40 and not any(answer in hint for answer in ANSWERS[stem]), hint
    code = [cell for cell in learner.cells[:check] if cell.cell_type == "code"]
    for index, cell in enumerate(code):
        expected = [output["ename"] for output in stored[index] if output["output_type"] == "error"]
        got = [output.ename for output in cell.get("outputs", []) if output.output_type == "error"]
        assert got == expected, f"code cell {index}: errors {got}, the full chapter's {expected}"
    # A cell that displays another chapter's answer says so first, linking that chapter.
    markdown = ""
    for cell in learner.cells[:check]:
        if cell.cell_type == "markdown":
            markdown = cell.source
            continue
        for chapter, answer in SHOWS_AN_ANSWER.items():
            if chapter != stem and answer.search(displayed(cell)):
                assert "answer" in markdown and f"({chapter}.ipynb)" in markdown, (
                    f"{cell.source!r} shows {chapter}'s answer; the Markdown before it does not say so"
                )
