"""The student edition keeps every exercise and check, and gives no answer away."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from booktools.student_edition import IN_FULL_EDITION, without_solutions

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_are_cut_and_exercises_kept(path: Path) -> None:
    full = json.loads(path.read_text())
    student = without_solutions(full)
    texts = ["".join(cell["source"]) for cell in student["cells"]]
    exercises = sum("{exercise-start}" in text for text in texts)
    assert not any("{solution-start}" in text or "{solution-end}" in text for text in texts)
    assert sum(IN_FULL_EDITION in text for text in texts) == exercises
    solution_cells = len(full["cells"]) - len(student["cells"])
    assert solution_cells >= exercises, "each solution held at least one cell"
    emptied_checks = [c for c in student["cells"] if c["cell_type"] == "code" and c["execution_count"] is None]
    assert len(emptied_checks) == exercises
    assert all(not cell["outputs"] and "assert" in "".join(cell["source"]) for cell in emptied_checks)
