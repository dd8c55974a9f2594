"""``requirements.txt``, read: its exact pins, and which of them only the lab, tests and book need.

``requirements.txt`` includes ``requirements-learner.txt`` (``-r``), what the chapters need and
JupyterLab: what ``bash run.sh workshop`` installs. Standard library only: Colab's bootstrap
(``colab.py``) uses it before anything is installed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

LAB_TEST_AND_BOOK_TOOLS = frozenset(
    {
        "jupyterlab", "ipykernel", "pytest", "pytest-xdist", "nbval", "psutil", "rfc3987",
        "mypy", "types-psutil", "types-psycopg2", "nox", "check-jsonschema",
        "jupyter-book", "sphinx-exercise", "sphinxext-opengraph", "sphinx-sitemap", "playwright",
    }
)
"""Not needed to run the chapters on Colab, which skips them (it has its own ipykernel, IPython and
pytest). Every pin of ``requirements.txt`` that ``requirements-learner.txt`` leaves out is here, so
the setup check calls it optional in a learner's ``.venv``; ``tests/test_setup.py`` checks that."""

PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)(\[[^\]]*\])?==(?P<version>\S+)")
INCLUDE = re.compile(r"^(-r|--requirement)[\s=]+(?P<path>\S+)$")


def lines(requirements: Path) -> Iterator[str]:
    """The file's requirement lines, comments dropped, each ``-r FILE`` replaced by that file's lines."""
    for line in requirements.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        include = INCLUDE.match(line)
        if include:
            # pip and uv read an included file relative to the file that names it.
            yield from lines(requirements.parent / include["path"])
        else:
            yield line


def pins(requirements: Path) -> dict[str, str]:
    """Each ``name==version`` line's package name (extras dropped) and version, in file order."""
    found = {}
    for line in lines(requirements):
        pin = PIN.match(line)
        if pin:
            found[pin["name"]] = pin["version"]
    return found


def for_the_chapters(requirements: Path) -> list[str]:
    """The requirement lines the chapters need (``-e .`` included), split into pip arguments."""
    wanted = []
    for line in lines(requirements):
        pin = PIN.match(line)
        if not (pin and pin["name"] in LAB_TEST_AND_BOOK_TOOLS):
            wanted.extend(line.split())
    return wanted


def differing(requirements: Path) -> dict[str, tuple[str, str | None]]:
    """Each pin whose installed version is another (or none): name → (pinned, installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, tuple[str, str | None]] = {}
    for name, pinned in pins(requirements).items():
        try:
            installed: str | None = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pinned:
            found[name] = (pinned, installed)
    return found


if __name__ == "__main__":
    # ``python -m booktools.requirements FILE``: run.sh asks whether a set-up .venv still holds
    # the pins (a `%pip install -U` in a kernel changes them). Prints what differs; exit 1 then.
    import sys

    changed = differing(Path(sys.argv[1]))
    print(", ".join(f"{name} {installed or 'missing'} (pinned {pinned})"
                    for name, (pinned, installed) in changed.items()))
    sys.exit(1 if changed else 0)
