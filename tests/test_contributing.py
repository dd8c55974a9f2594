"""CONTRIBUTING.md's map of the helper package names every module in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "booktools"


def test_the_module_map_names_every_module() -> None:
    mapped = set(re.findall(r"^\| `([^`]+)` \|", (ROOT / "CONTRIBUTING.md").read_text(), re.MULTILINE))
    modules = {path.name for path in PACKAGE.glob("*.py") if path.name != "__init__.py"}
    folders = {f"{path.name}/" for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    missing = sorted((modules | folders) - mapped)
    assert not missing, f"CONTRIBUTING.md's module map does not name: {missing}"
