"""The student edition keeps every exercise and check, and gives no answer away."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from booktools.errors import BookToolsError
from booktools.student_edition import IN_FULL_EDITION, without_solutions

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def solution_cell_sources(notebook: dict) -> set[str]:
    """The sources of the cells strictly between each solution-start and solution-end."""
    sources, inside = set(), False
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        if "{solution-start}" in text:
            inside = True
        elif "{solution-end}" in text:
            inside = False
        elif inside:
            sources.add(text)
    return sources


def test_an_unterminated_solution_is_an_error() -> None:
    cell = {"cell_type": "markdown", "metadata": {}, "source": "```{solution-start} ex\n```"}
    with pytest.raises(BookToolsError, match="never ends"):
        without_solutions({"cells": [cell]})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_are_cut_and_exercises_kept(path: Path) -> None:
    full = json.loads(path.read_text())
    student = without_solutions(full)
    texts = ["".join(cell["source"]) for cell in student["cells"]]
    exercises = sum("{exercise-start}" in text for text in texts)
    assert not any("{solution-start}" in text or "{solution-end}" in text for text in texts)
    assert sum(IN_FULL_EDITION in text for text in texts) == exercises
    solution_sources = solution_cell_sources(full)
    assert len(solution_sources) >= exercises, "each solution holds at least one cell"
    kept = {"".join(cell["source"]) for cell in student["cells"]}
    assert not kept & solution_sources, "a solution cell leaked into the student edition"
    emptied_checks = [c for c in student["cells"] if c["cell_type"] == "code" and c["execution_count"] is None]
    assert len(emptied_checks) == exercises
    assert all(not cell["outputs"] and "assert" in "".join(cell["source"]) for cell in emptied_checks)
