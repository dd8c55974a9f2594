"""A student edition of the book: the same pages with every exercise's solution cut out.

sphinx-exercise's own ``hide_solutions`` cannot do it for this book: its solutions are
gated (``solution-start`` / ``solution-end``, because they hold code cells), and
sphinx-exercise 1.2.1 stops the build on those (executablebooks/sphinx-exercise#89).

``python -m booktools student-edition DEST`` copies the committed book to DEST, removes
the solutions (and the stored output of the check cell after each, which would give the
answer away) from the copy's notebooks, and leaves DEST ready for ``jupyter-book build``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from booktools.errors import BookToolsError
from booktools.project import repository_root

SOLUTION_START = "```{solution-start}"
SOLUTION_END = "```{solution-end}\n```"
IN_FULL_EDITION = "*The solution is in the full edition of the book.*"


def without_solutions(notebook: dict[str, Any]) -> dict[str, Any]:
    """``notebook`` with each gated solution replaced by a pointer to the full edition.

    The code cell right after a solution, the exercise's check, keeps its code but
    loses its stored output. A solution that starts and never ends is an error, not
    a reason to drop the rest of the chapter.
    """
    kept: list[dict[str, Any]] = []
    in_solution = after_solution = False
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        starts, ends = SOLUTION_START in text, SOLUTION_END in text
        if starts and (in_solution or ends):
            raise BookToolsError("A solution starts inside another, or starts and ends in one cell.")
        if starts:
            kept.append({**cell, "source": text.split(SOLUTION_START)[0] + IN_FULL_EDITION})
            in_solution, after_solution = True, False
        elif in_solution:
            if ends:
                rest = text.split(SOLUTION_END, 1)[1].strip()
                kept.extend([{**cell, "source": rest}] if rest else [])
                in_solution, after_solution = False, True
        elif after_solution and cell["cell_type"] == "code":
            kept.append({**cell, "outputs": [], "execution_count": None})
            after_solution = False
        else:
            kept.append(cell)
            after_solution = False
    if in_solution:
        raise BookToolsError("A solution starts and never ends (no solution-end directive).")
    return {**notebook, "cells": kept}


def make(destination: Path) -> list[Path]:
    """Export the committed book (``git archive HEAD``) to ``destination``; strip its solutions."""
    destination.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=repository_root(), capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    notebooks = sorted((destination / "notebooks").glob("*.ipynb"))
    for path in notebooks:
        notebook = without_solutions(json.loads(path.read_text()))
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return notebooks
