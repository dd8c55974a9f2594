"""``requirements.txt``, read: its exact pins, and which of them only the lab, tests and book need.

Standard library only: Colab's bootstrap (``colab.py``) uses it before anything is installed.
"""

from __future__ import annotations

import re
from pathlib import Path

LAB_TEST_AND_BOOK_TOOLS = frozenset(
    {
        "jupyterlab", "ipykernel", "pytest", "pytest-xdist", "nbval", "psutil", "rfc3987",
        "ruff", "mypy", "types-psutil", "types-psycopg2", "nox", "check-jsonschema",
        "jupyter-book", "sphinx-exercise", "sphinxext-opengraph", "sphinx-sitemap", "playwright",
    }
)
"""Not needed to run the chapters: Colab skips them (it pins its own ipykernel and IPython)."""

PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[[^\]]*\])?==(?P<version>\S+)")


def pins(requirements: Path) -> dict[str, str]:
    """Each ``name==version`` line's package name (extras dropped) and version, in file order."""
    found = {}
    for line in requirements.read_text().splitlines():
        pin = PIN.match(line.strip())
        if pin:
            found[pin["name"]] = pin["version"]
    return found


def for_the_chapters(requirements: Path) -> list[str]:
    """The requirement lines the chapters need (``-e .`` included), split into pip arguments."""
    wanted = []
    for line in requirements.read_text().splitlines():
        line = line.strip()
        pin = PIN.match(line)
        if line and not line.startswith("#") and not (pin and pin["name"] in LAB_TEST_AND_BOOK_TOOLS):
            wanted.extend(line.split())
    return wanted
