"""Each exercise's check, run with wrong answers first, while nbval runs the chapter.

A learner edits the answer cell and runs the check cell (``book.check(...)``), often more
than once: wrong, then right. This module replays that in the kernel nbval runs a chapter
in. Just before an exercise's first solution cell (where the learner edition has none), an
extra test item runs each wrong answer of ``booktools.wrong_answers`` in order, each followed
by the check cell's source, and requires every one to fail with ``AssertionError`` whose
message (the hint) matches the registered pattern and leaves the solution's strings out.
nbval then runs the solution and the check as stored, so a solution must still pass after
the wrong attempts, and the attempts must change nothing a later cell prints.

The items are added by ``booktools.pytest_plugin`` (``pytest_collection_modifyitems``), as
siblings of nbval's cell items: ``notebooks/NN-x.ipynb::Exercise <label>: wrong answers``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from queue import Empty
from typing import Any

import pytest

from booktools.student_edition import split_solutions
from booktools.wrong_answers import WRONG_ANSWERS, WrongAnswer

EXERCISE_LABEL = re.compile(r"```\{exercise-start\}\n(?:.*\n)*?:label:\s*(?P<label>[\w-]+)")
SHORTEST_ANSWER = 4
"""A shorter string of a solution (``"%"``, ``"2.0"``) also occurs in hints that do not give it away."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook, by cell index (all cells, Markdown included)."""

    label: str
    question: str
    """The exercise's Markdown and code cells, up to the solution: what the learner sees."""
    solution: tuple[str, ...]
    """The sources of the solution's code cells."""
    first_solution_cell: int
    check_cell: int
    check_source: str


def _source(cell: Mapping[str, Any]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def exercises(cells: Sequence[Mapping[str, Any]]) -> list[Exercise]:
    """The exercises of a notebook's cells, in order, as the learner edition splits them
    (``booktools.student_edition.split_solutions``).

    An exercise starts at the Markdown cell with ``exercise-start`` (its ``:label:``); what
    follows up to the solution is its question; its check is the code cell after the solution.
    """
    found: list[Exercise] = []
    label: str | None = None
    question: list[str] = []
    solution: list[tuple[int, str]] = []
    for role, index, cell in split_solutions([dict(cell) for cell in cells]):
        text = _source(cell)
        if role == "solution":
            if cell["cell_type"] == "code":
                solution.append((index, text))
            continue
        start = EXERCISE_LABEL.search(text)
        if start:
            label, question, solution = start["label"], [], []
        if role == "check":
            if label is None or not solution:
                raise ValueError(f"cell {index}: a check without an exercise label or a solution code cell")
            found.append(Exercise(label, "\n".join(question), tuple(source for _, source in solution),
                                  solution[0][0], index, text))
            label = None
        elif label is not None and not solution:
            question.append(text)
    return found


def answer_strings(exercise: Exercise) -> set[str]:
    """What a hint must not show: the solution's string literals and, of a dictionary of
    predictions, each ``'key': value`` pair, unless the question or the check shows it already."""
    shown = exercise.question + exercise.check_source
    strings: set[str] = set()
    for source in exercise.solution:
        tree = compile(source, "<solution>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                       dont_inherit=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
            elif isinstance(node, ast.Dict):
                strings.update(_literal_pairs(node))
    return {text for text in strings if len(text) >= SHORTEST_ANSWER and text not in shown}


def _literal_pairs(node: ast.Dict) -> Iterator[str]:
    """``'key': value`` as a dictionary's repr writes each literal item (``{'a': True}``)."""
    for key, value in zip(node.keys, node.values, strict=True):
        try:
            yield f"{ast.literal_eval(key)!r}: {ast.literal_eval(value)!r}" if key is not None else ""
        except ValueError:
            continue


@dataclass(frozen=True)
class Outcome:
    """What one execution in the kernel ended with: ``None`` for success, else the error."""

    error: str | None
    message: str


def run_in_kernel(kernel: Any, source: str, *, timeout: float) -> Outcome:
    """Execute ``source`` in nbval's running kernel, as a cell without history; its outputs are dropped."""
    msg_id = kernel.execute_cell_input(source, allow_stdin=False)
    kernel.await_reply(msg_id, timeout=timeout)
    error: Outcome = Outcome(None, "")
    while True:
        message = kernel.get_message(stream="iopub", timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        content = message["content"]
        if message["msg_type"] == "error":
            error = Outcome(str(content["ename"]), str(content["evalue"]))
        elif message["msg_type"] == "status" and content["execution_state"] == "idle":
            return error


def quoted(code: str) -> str:
    """A wrong answer's code for a report: on its own lines, indented."""
    return "".join(f"\n    | {line}" for line in (code.strip() or "(the exercise's placeholder)").splitlines())


def problems(
    exercise: Exercise, number: int, attempt: WrongAnswer, attempted: Outcome, checked: Outcome
) -> Iterator[str]:
    """What is wrong with one attempt's outcome: nothing, when its check failed with the right hint.

    Each problem is one line naming the exercise and the attempt, then the attempt's code.
    """
    what = f"exercise {exercise.label}: the wrong answer {number}"
    for problem in _problems(exercise, attempt, attempted, checked):
        yield f"{what} {problem}{quoted(attempt.code)}"


def _problems(exercise: Exercise, attempt: WrongAnswer, attempted: Outcome, checked: Outcome) -> Iterator[str]:
    if attempted.error != attempt.raises:
        expected = f"raise {attempt.raises}" if attempt.raises else "run"
        got = f"raised {attempted.error}: {attempted.message}" if attempted.error else "ran without error"
        yield f"should {expected} in its answer cell, and {got}"
        return
    if checked.error is None:
        yield "passed the check"
        return
    if checked.error != "AssertionError":
        yield f"made the check cell raise {checked.error}: {checked.message}, not a hint (AssertionError)"
        return
    if not re.search(attempt.hint, checked.message, re.DOTALL):
        yield f"failed the check with the hint {checked.message!r}, which does not match {attempt.hint!r}"
    leaked = sorted(text for text in answer_strings(exercise) if text in checked.message)
    if leaked:
        yield f"got a hint that gives the solution's {', '.join(map(repr, leaked))} away"


class WrongAnswersFailed(Exception):
    """A wrong answer passed a check, or failed it without the expected hint."""


class WrongAnswersItem(pytest.Item):
    """Runs one exercise's wrong answers and its check in the kernel of nbval's notebook item."""

    def __init__(self, *, exercise: Exercise, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exercise = exercise

    def runtest(self) -> None:
        notebook: Any = self.parent
        if notebook.timed_out:
            pytest.skip("an earlier cell of this notebook timed out")
        kernel = notebook.kernel
        timeout = float(self.config.getoption("nbval_cell_timeout", 120) or 120)
        found: list[str] = []
        for number, attempt in enumerate(WRONG_ANSWERS[self.exercise.label], 1):
            try:
                attempted = run_in_kernel(kernel, attempt.code, timeout=timeout)
                checked = run_in_kernel(kernel, self.exercise.check_source, timeout=timeout)
                if attempt.undo:
                    undone = run_in_kernel(kernel, attempt.undo, timeout=timeout)
                    if undone.error:
                        found.append(f"exercise {self.exercise.label}: undoing the wrong answer {number} raised "
                                     f"{undone.error}: {undone.message}")
            except Empty:
                notebook.timed_out = True
                raise WrongAnswersFailed(f"exercise {self.exercise.label}: the kernel did not answer "
                                         f"within {timeout:g} s") from None
            found.extend(problems(self.exercise, number, attempt, attempted, checked))
        if found:
            raise WrongAnswersFailed("\n".join(found))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, WrongAnswersFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Any, int, str]:
        return self.path, 0, f"{self.nodeid}"


def with_wrong_answers(items: list[pytest.Item]) -> list[pytest.Item]:
    """nbval's cell items, with each exercise's ``WrongAnswersItem`` just before its first solution cell."""
    result: list[pytest.Item] = []
    planned: dict[int, Exercise] = {}
    seen: set[int] = set()
    for item in items:
        notebook: Any = item.parent
        if type(item).__name__ == "IPyNbCell" and notebook is not None:
            if id(notebook) not in seen:
                seen.add(id(notebook))
                cells = notebook.nb.cells
                for exercise in exercises(cells):
                    planned[id(cells[exercise.first_solution_cell])] = exercise
            cell: Any = getattr(item, "cell", None)
            exercise_here = planned.pop(id(cell), None)
            if exercise_here is not None and exercise_here.label in WRONG_ANSWERS:
                result.append(WrongAnswersItem.from_parent(
                    notebook, name=f"Exercise {exercise_here.label}: wrong answers", exercise=exercise_here))
        result.append(item)
    return result
