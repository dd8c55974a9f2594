"""Every exercise's check is run with realistic wrong answers (``booktools.wrong_answers``).

The runs themselves happen while nbval runs each chapter (``booktools.exercise_attempts``:
an item ``Exercise <label>: wrong answers`` before the solution). These tests, under a
second apart from one collection, keep that honest: every exercise of every notebook has
wrong answers, the check they run is the learner edition's, the item sits before the
solution, and a wrong answer that passes (or fails without its hint, or with one that gives
the solution away) is reported by name.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from booktools.exercise_attempts import Exercise, Outcome, answer_strings, exercises, problems
from booktools.student_edition import CHECK_TAG, learner_notebook
from booktools.wrong_answers import WRONG_ANSWERS, WrongAnswer

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def cells(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["cells"])


def all_exercises() -> list[tuple[str, Exercise]]:
    return [(path.name, exercise) for path in NOTEBOOKS for exercise in exercises(cells(path))]


def test_every_exercise_has_wrong_answers_and_no_answer_is_left_over() -> None:
    labels = [exercise.label for _, exercise in all_exercises()]
    assert len(labels) == len(set(labels)), "two exercises share a label"
    missing = sorted(set(labels) - WRONG_ANSWERS.keys())
    assert not missing, f"exercises without wrong answers in src/booktools/wrong_answers.py: {missing}"
    stale = sorted(WRONG_ANSWERS.keys() - set(labels))
    assert not stale, f"wrong answers for exercises no notebook has: {stale}"
    assert all(WRONG_ANSWERS[label] for label in labels)


def test_every_exercise_is_found_with_its_check() -> None:
    """One exercise per chapter 1 to 27, two in chapter 4; each check calls a check or asserts."""
    found = all_exercises()
    chapters = sorted({name[:2] for name, _ in found})
    assert chapters == [f"{number:02}" for number in range(1, 28)]
    assert len(found) == 28
    for name, exercise in found:
        assert exercise.first_solution_cell < exercise.check_cell, (name, exercise.label)
        assert re.search(r"book\.check|assert ", exercise.check_source), (name, exercise.label)


def test_every_check_is_stored_passing() -> None:
    """nbval compares each check cell's run, after the wrong answers, with this stored pass."""
    for path in NOTEBOOKS:
        notebook_cells = cells(path)
        for exercise in exercises(notebook_cells):
            outputs = notebook_cells[exercise.check_cell]["outputs"]
            assert outputs, (path.name, exercise.label, "stored without output")
            assert not [output for output in outputs if output["output_type"] == "error"], (path.name, exercise.label)
            text = "".join("".join(output.get("text", "")) for output in outputs)
            if "book.check" in exercise.check_source:
                assert "✔" in text, (path.name, exercise.label, text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_the_check_that_runs_is_the_learner_editions(path: Path) -> None:
    notebook = json.loads(path.read_text())
    learner = learner_notebook(notebook, site="https://example.org/")
    learner_checks = ["".join(cell["source"]) for cell in learner["cells"]
                      if CHECK_TAG in cell.get("metadata", {}).get("tags", [])]
    assert learner_checks == [exercise.check_source for exercise in exercises(notebook["cells"])]


@pytest.mark.parametrize(("label", "number", "attempt"),
                         [(label, number, attempt) for label, attempts in WRONG_ANSWERS.items()
                          for number, attempt in enumerate(attempts, 1)],
                         ids=lambda value: value if isinstance(value, str) else "")
def test_a_wrong_answer_is_code_and_not_the_solution(label: str, number: int, attempt: WrongAnswer) -> None:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for code in (attempt.code, attempt.undo or ""):
        compile(code, f"{label} #{number}", "exec", flags, dont_inherit=True)
    re.compile(attempt.hint)
    exercise = next(exercise for _, exercise in all_exercises() if exercise.label == label)
    assert attempt.code.strip() not in {source.strip() for source in exercise.solution}


EXERCISE = Exercise(
    label="ex-demo", question="Write the password as alembic.ini needs it.\n```python\nanswer = None\n```",
    solution=('answer = "s3cr%%t"\nprediction = {"ssl": True}\n',), first_solution_cell=3, check_cell=5,
    check_source="book.check(answer == expected, hint='Not quite')",
)
ATTEMPT = WrongAnswer('answer = "s3cr%t"\n', hint=r"^Not quite")


def test_a_wrong_answer_that_passes_is_named_with_its_code() -> None:
    [problem] = problems(EXERCISE, 2, ATTEMPT, Outcome(None, ""), Outcome(None, ""))
    assert problem == "exercise ex-demo: the wrong answer 2 passed the check\n    | answer = \"s3cr%t\""


@pytest.mark.parametrize(("checked", "expected"), [
    (Outcome("AssertionError", "Not quite: ConfigParser"), []),
    (Outcome("AssertionError", "Try again"), ["failed the check with the hint 'Try again', which does not match"]),
    (Outcome("AssertionError", "Not quite: write s3cr%%t"), ["gives the solution's 's3cr%%t' away"]),
    (Outcome("AssertionError", "Not quite: {'ssl': True}"), ["gives the solution's \"'ssl': True\" away"]),
    (Outcome("KeyError", "'url'"), ["made the check cell raise KeyError: 'url', not a hint"]),
])
def test_a_check_must_fail_with_the_hint_and_without_the_answer(checked: Outcome, expected: list[str]) -> None:
    found = list(problems(EXERCISE, 1, ATTEMPT, Outcome(None, ""), checked))
    assert len(found) == len(expected)
    for problem, part in zip(found, expected, strict=True):
        assert part in problem.splitlines()[0]


def test_an_attempt_that_should_raise_and_does_not_is_reported() -> None:
    attempt = WrongAnswer("answer = select_one()\n", hint="Not yet", raises="MissingGreenlet")
    [problem] = problems(EXERCISE, 1, attempt, Outcome(None, ""), Outcome("AssertionError", "Not yet"))
    assert "should raise MissingGreenlet in its answer cell, and ran without error" in problem


def test_answer_strings_leave_out_what_the_question_shows() -> None:
    assert answer_strings(EXERCISE) == {"s3cr%%t", "'ssl': True"}
    shown = Exercise(**{**EXERCISE.__dict__, "question": EXERCISE.question + " (not s3cr%%t)"})
    assert answer_strings(shown) == {"'ssl': True"}


def test_the_wrong_answers_run_just_before_each_solution() -> None:
    """Collected as nbval collects them: the item comes right before the solution's first code cell."""
    notebook = ROOT / "notebooks" / "16-after-commit.ipynb"
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         str(notebook.relative_to(ROOT))],
        cwd=ROOT, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ).stdout.splitlines()
    [exercise] = exercises(cells(notebook))
    code_cells = [index for index, cell in enumerate(cells(notebook)) if cell["cell_type"] == "code"]
    solution_item = f"{notebook.relative_to(ROOT)}::Cell {code_cells.index(exercise.first_solution_cell)}"
    position = collected.index(solution_item)
    assert collected[position - 1] == f"{notebook.relative_to(ROOT)}::Exercise {exercise.label}: wrong answers"
