"""The stored notebooks as files: their shared first cell, and no execution timestamps.

``python -m booktools preamble`` writes the first code cell of every notebook from
``PREAMBLE`` and the repository address in ``_config.yml`` (the one place it is set);
``python -m booktools strip-timestamps`` removes the per-cell ``metadata.execution``
that JupyterLab stores on every run. Both only rewrite a notebook that changes, in
the layout Jupyter itself writes (one-space indent, a final newline).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from booktools.errors import BookToolsError
from booktools.project import repository_root

PREAMBLE = """\
import sys

if "google.colab" in sys.modules:  # Colab only: fetch the book and install what it imports.
    repository = "{repository_url}"
    !test -d /content/book || git clone --quiet --depth=1 {{repository}} /content/book
    !{{sys.executable}} /content/book/src/booktools/colab.py /content/book
    sys.path.insert(0, "/content/book/src")
    %cd -q /content/book/notebooks

try:
    from booktools import notebook as book
except ModuleNotFoundError as missing:
    print(
        f"✘ This kernel cannot import {{missing.name!r}}: it is not the book's environment.\\n"
        "    → Pick the kernel of the book's .venv (Kernel → Change Kernel), or start\\n"
        "      JupyterLab with: bash run.sh lab"
    )"""
"""The first code cell of every notebook; ``{repository_url}`` comes from ``_config.yml``."""

PREAMBLE_TAGS = ["hide-input"]

REPOSITORY_URL = re.compile(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(?P<url>\S+)", re.MULTILINE)


def repository_url(root: Path | None = None) -> str:
    """``repository.url`` from ``_config.yml`` (read as text: PyYAML is not a dependency here)."""
    config = ((root or repository_root()) / "_config.yml").read_text()
    found = REPOSITORY_URL.search(config)
    if found is None:
        raise BookToolsError("_config.yml has no repository.url; set it to the book's Git repository address.")
    return found["url"]


def preamble(root: Path | None = None) -> str:
    """The first code cell's source for this checkout."""
    return PREAMBLE.format(repository_url=repository_url(root))


def notebooks(root: Path | None = None) -> list[Path]:
    return sorted(((root or repository_root()) / "notebooks").glob("*.ipynb"))


def code_cells(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _source(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else str(source)


def first_code_cell(path: Path) -> str:
    cells = code_cells(json.loads(path.read_text()))
    return _source(cells[0]) if cells else ""


def _write_if_changed(path: Path, before: str, notebook: dict[str, Any]) -> bool:
    after = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    if after == before:
        return False
    path.write_text(after)
    return True


def write_preamble(path: Path, source: str) -> bool:
    """Make ``source`` the notebook's first code cell (its outputs kept); True if it changed."""
    before = path.read_text()
    notebook = json.loads(before)
    cells = code_cells(notebook)
    if not cells:
        raise BookToolsError(f"{path.name} has no code cell to hold the preamble.")
    first = cells[0]
    first["source"] = source.splitlines(keepends=True)
    first.setdefault("metadata", {})["tags"] = PREAMBLE_TAGS
    return _write_if_changed(path, before, notebook)


def strip_timestamps(path: Path) -> bool:
    """Remove every cell's ``metadata.execution``; True if there was one."""
    before = path.read_text()
    notebook = json.loads(before)
    for cell in notebook["cells"]:
        cell.get("metadata", {}).pop("execution", None)
    return _write_if_changed(path, before, notebook)
