"""nbval only compares what is stored: every notebook must be stored executed, in order, clean."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from booktools.notebook_files import PREAMBLE_TAGS, first_code_cell, preamble

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MACHINE_PATHS = re.compile(r"/tmp/|/root/|/home/|site-packages|booktools-scratch|ipykernel_\d+")


def code_cells(path: Path) -> list[dict[str, Any]]:
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def text_of(output: dict[str, Any]) -> str:
    parts = [output.get("text", ""), output.get("evalue", ""), *output.get("data", {}).values()]
    return "".join("".join(part) if isinstance(part, list) else str(part) for part in parts)


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_is_stored_executed_in_order(path: Path) -> None:
    counts = [cell["execution_count"] for cell in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: execution counts {counts}; restart the kernel, run all cells, save"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_hold_no_machine_paths(path: Path) -> None:
    leaks = [
        match.group(0)
        for cell in code_cells(path)
        for output in cell["outputs"]
        for match in [MACHINE_PATHS.search(text_of(output))]
        if match
    ]
    assert not leaks, f"{path.name}: outputs depend on this machine: {leaks}"


def test_every_notebook_is_in_the_table_of_contents() -> None:
    toc = (ROOT / "_toc.yml").read_text()
    listed = set(re.findall(r"file: notebooks/([\w-]+)", toc))
    assert listed == {path.stem for path in NOTEBOOKS}


def test_strict_nbval_is_configured() -> None:
    configuration = (ROOT / "pyproject.toml").read_text() + (ROOT / "run.sh").read_text()
    assert "--nbval-lax" not in configuration
    assert '"--nbval"' in configuration


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_preamble_made_from_config(path: Path) -> None:
    """One first cell everywhere, its repository address read from _config.yml."""
    assert first_code_cell(path) == preamble(ROOT), (
        f"{path.name}: the first code cell is not the generated preamble; run: python -m booktools preamble"
    )
    assert code_cells(path)[0]["metadata"].get("tags") == PREAMBLE_TAGS


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00-")], ids=lambda p: p.name)
def test_every_chapter_names_its_database_after_its_file(path: Path) -> None:
    setup = "".join(code_cells(path)[1]["source"])
    assert re.search(rf'book\.start_chapter(_without_postgres)?\("{re.escape(path.stem)}"', setup), (
        f"{path.name}: the second code cell should start the chapter as book.start_chapter({path.stem!r}, ...)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_execution_timestamps_are_stored(path: Path) -> None:
    stamped = [i for i, cell in enumerate(json.loads(path.read_text())["cells"]) if "execution" in cell["metadata"]]
    assert not stamped, (
        f"{path.name}: cells {stamped} store metadata.execution timestamps; run: python -m booktools strip-timestamps"
    )
