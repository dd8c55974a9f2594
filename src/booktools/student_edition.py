"""Editions without the solutions: the learner's notebooks, and a student copy of the HTML book.

**The learner edition** (``bash run.sh workshop``, or ``python -m booktools.student_edition
DEST``) is what learners open in JupyterLab: every chapter notebook, each exercise kept as
plain Markdown (no MyST directive lines, which JupyterLab would show raw), its solution
cells gone, and no stored output or execution count in any cell: every output a learner
sees is one their own run produced. A stored output sits under its cell before the
learner runs it, showing a result they have not produced (the setup check's ✔ lines
describe the author's machine) or an answer (a chapter may display an earlier
exercise's answer). The check cells fail until the learner has done the work.
``bash run.sh lab`` becomes ``bash run.sh workshop``, the command that opens this
edition (``lab`` opens the full one, solutions included).
Links to the book's prose pages (``../book/*.md``), which JupyterLab cannot open from a
copy of ``notebooks/``, point to the published book (``html.baseurl`` in ``_config.yml``).
Notebooks already in DEST are kept: they hold the learner's work.

**The student HTML edition** (``bash run.sh student``, ``python -m booktools student-edition
DEST``) copies the committed book and cuts the solutions out, for ``jupyter-book build``.
sphinx-exercise's own ``hide_solutions`` cannot do that for this book: its solutions are
gated (``solution-start`` / ``solution-end``, because they hold code cells), and
sphinx-exercise 1.2.1 stops the build on those (executablebooks/sphinx-exercise#89).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from booktools.errors import BookToolsError
from booktools.project import repository_root

SOLUTION_START = "```{solution-start}"
SOLUTION_END = "```{solution-end}\n```"
EXERCISE_START = re.compile(r"```\{exercise-start\}\n(?::[\w-]+:.*\n)*```\n*")
EXERCISE_END = "```{exercise-end}\n```"
IN_FULL_EDITION = "*The solution is in the full edition of the book.*"
RUN_THE_CHECK = "*Then run the next cell: it checks your work and, until it is right, says where to look.*"
FULL_EDITION_COMMAND = "bash run.sh lab"
LEARNER_EDITION_COMMAND = "bash run.sh workshop"
CHECK_TAG = "exercise-check"
"""Tag of a learner notebook's check cells (the code cell after each removed solution)."""

BOOK_PAGE_LINK = re.compile(r"\]\(\.\./book/(?P<page>[\w-]+)\.md(?P<anchor>#[\w-]+)?\)")
DIRECTIVE = re.compile(r"^(```|:::)\{[\w-]+\}|\{(ref|doc|numref|term)\}`", re.MULTILINE)
SITE_URL = re.compile(r"^html:\s*\n(?:[ \t]+.*\n)*?[ \t]+baseurl:\s*(?:&\S+\s+)?(?P<url>\S+)", re.MULTILINE)


def _text(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def split_solutions(cells: Sequence[dict[str, Any]]) -> list[tuple[str, int, dict[str, Any]]]:
    """Each cell with its role and index: ``cell``, ``opening``, ``solution``, ``check``.

    A ``solution`` cell lies inside a gated solution (the editions drop it). A solution's
    opening cell keeps what precedes ``solution-start`` (role ``opening``, source cut), its
    closing cell what follows ``solution-end`` (role ``cell``, source cut, left out if
    nothing is left). The ``check`` is the first code cell after a solution. A solution
    that starts and never ends is an error, not a reason to drop the rest of the chapter.
    """
    roles: list[tuple[str, int, dict[str, Any]]] = []
    in_solution = after_solution = False
    for index, cell in enumerate(cells):
        text = _text(cell)
        starts, ends = SOLUTION_START in text, SOLUTION_END in text
        if starts and (in_solution or ends):
            raise BookToolsError("A solution starts inside another, or starts and ends in one cell.")
        if starts:
            roles.append(("opening", index, {**cell, "source": text.split(SOLUTION_START)[0]}))
            in_solution, after_solution = True, False
        elif in_solution:
            roles.append(("solution", index, cell))
            if ends:
                rest = text.split(SOLUTION_END, 1)[1].strip()
                roles.extend([("cell", index, {**cell, "source": rest})] if rest else [])
                in_solution, after_solution = False, True
        elif after_solution and cell["cell_type"] == "code":
            roles.append(("check", index, cell))
            after_solution = False
        else:
            roles.append(("cell", index, cell))
            after_solution = after_solution and cell["cell_type"] != "code"
    if in_solution:
        raise BookToolsError("A solution starts and never ends (no solution-end directive).")
    return roles


def _unexecuted(cell: dict[str, Any]) -> dict[str, Any]:
    return {**cell, "outputs": [], "execution_count": None}


def without_solutions(notebook: dict[str, Any]) -> dict[str, Any]:
    """``notebook`` with each gated solution replaced by a pointer to the full edition.

    The code cell right after a solution, the exercise's check, keeps its code but
    loses its stored output.
    """
    kept: list[dict[str, Any]] = []
    for role, _, cell in split_solutions(notebook["cells"]):
        if role == "solution":
            continue
        if role == "opening":
            kept.append({**cell, "source": cell["source"] + IN_FULL_EDITION})
        else:
            kept.append(_unexecuted(cell) if role == "check" else cell)
    return {**notebook, "cells": kept}


def site_url(root: Path | None = None) -> str:
    """``html.baseurl`` from ``_config.yml``: where the book is published, ending in ``/``."""
    found = SITE_URL.search(((root or repository_root()) / "_config.yml").read_text())
    if found is None:
        raise BookToolsError("_config.yml has no html.baseurl; set it to the published book's address.")
    return found["url"].rstrip("/") + "/"


def _for_jupyterlab(markdown: str, site: str) -> str:
    """Exercise directives gone, links to the book's prose pages pointed at the published book."""
    text = EXERCISE_START.sub("", markdown).replace(EXERCISE_END, "")
    text = BOOK_PAGE_LINK.sub(lambda link: f"]({site}book/{link['page']}.html{link['anchor'] or ''})", text)
    return text.strip()


def learner_notebook(notebook: dict[str, Any], *, site: str) -> dict[str, Any]:
    """The learner's copy of a chapter (see the module's docstring).

    Raises ``BookToolsError`` if a MyST directive or role would be left in a
    Markdown cell, where JupyterLab would show it as raw text.
    """
    cells: list[dict[str, Any]] = []
    for role, _, cell in split_solutions(notebook["cells"]):
        if role == "solution":
            continue
        if cell["cell_type"] == "markdown":
            text = _for_jupyterlab(_text(cell), site).replace(FULL_EDITION_COMMAND, LEARNER_EDITION_COMMAND)
            if role == "opening":
                text = f"{text}\n\n{RUN_THE_CHECK}".strip()
            leftover = DIRECTIVE.search(text)
            if leftover:
                raise BookToolsError(f"A learner cell would show the MyST markup {leftover.group(0)!r} raw.")
            if text:
                cells.append({**cell, "source": text})
            continue
        if role == "check":
            tags = [*cell.get("metadata", {}).get("tags", []), CHECK_TAG]
            cell = {**cell, "metadata": {**cell.get("metadata", {}), "tags": tags}}
        source = _text(cell).replace(FULL_EDITION_COMMAND, LEARNER_EDITION_COMMAND)
        cells.append(_unexecuted({**cell, "source": source}))
    return {**notebook, "cells": cells}


def make_learner(destination: Path, *, names: Sequence[str] = ()) -> tuple[list[Path], list[Path]]:
    """Write the learner edition of the notebooks (all, or those whose file stem is in ``names``).

    Returns the notebooks written and those kept because they were there already
    (the learner's work). Also makes ``destination/scratch``, the folder ``run.sh``
    points scratch projects at so that JupyterLab's file browser shows them.
    """
    root = repository_root()
    site = site_url(root)
    sources = sorted((root / "notebooks").glob("*.ipynb"))
    if names:
        unknown = sorted(set(names) - {path.stem for path in sources})
        if unknown:
            raise BookToolsError(f"No notebook named {', '.join(unknown)} in notebooks/.")
        sources = [path for path in sources if path.stem in names]
    (destination / "scratch").mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for source in sources:
        target = destination / source.name
        if target.exists():
            kept.append(target)
            continue
        notebook = learner_notebook(json.loads(source.read_text()), site=site)
        target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        written.append(target)
    return written, kept


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


def main(argv: list[str] | None = None) -> int:
    """``python -m booktools.student_edition DEST [NAME ...]``: write the learner edition."""
    parser = argparse.ArgumentParser(prog="python -m booktools.student_edition",
                                     description="Write the learner edition of the notebooks (no solutions).")
    parser.add_argument("destination", type=Path)
    parser.add_argument("names", nargs="*", help="notebook file stems (default: every chapter)")
    arguments = parser.parse_args(argv)
    try:
        written, kept = make_learner(arguments.destination, names=arguments.names)
    except BookToolsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"learner edition in {arguments.destination}: {len(written)} notebook(s) written"
          + (f", {len(kept)} kept as they were (your work; delete one to get it afresh)" if kept else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
