"""The workshop plan's times: each chapter's row says what the chapter's **Time to learn** says,
and each plan's table adds up (its blocks follow one another, its totals are its columns' sums).

No build and no database: the plan and the notebooks are read as text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "book" / "workshop-plan.md"

_TIME_TO_LEARN = re.compile(r"\*\*Time to learn\*\*:\s*(.*?)(?:\n\n|$)", re.S)
_CHAPTER_ROW = re.compile(r"^\| \[\d\d [^|]*\]\(\.\./notebooks/(\d\d-[^)]+)\.ipynb\) \|([^|]*)\|([^|]*)\|$")


def _section(title: str) -> str:
    text = PLAN.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _time_to_learn(notebook: str) -> str:
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    for cell in cells[:6]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and (found := _TIME_TO_LEARN.search(source)):
            return " ".join(found.group(1).split())
    raise AssertionError(f"{notebook}: no **Time to learn** in its first cells")


def _numbers(text: str) -> list[int]:
    return [int(number) for number in re.findall(r"\d+", text)]


def _chapter_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in _section("Time per chapter").splitlines():
        if found := _CHAPTER_ROW.match(line):
            rows.append((found.group(1), found.group(2).strip(), found.group(3).strip()))
    return rows


def test_every_chapter_has_a_row() -> None:
    listed = {notebook for notebook, _, _ in _chapter_rows()}
    chapters = {path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    assert sorted(chapters - listed) == [], "chapters without a row in the time-per-chapter table"


@pytest.mark.parametrize("notebook, teach, exercise", _chapter_rows())
def test_a_chapter_row_states_the_chapters_time_to_learn(notebook: str, teach: str, exercise: str) -> None:
    stated = _time_to_learn(notebook)
    assert _numbers(f"{teach} {exercise}") == _numbers(stated), f"{notebook} says: {stated}"


def _clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@pytest.mark.parametrize("title, length", [("90 minutes at a glance", 90), ("3 hours at a glance", 180)])
def test_a_plan_adds_up(title: str, length: int) -> None:
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in _section(title).splitlines()
        if line.startswith("| ") and not line.startswith(("| Time", "| ---"))
    ]
    *blocks, total = rows
    sums = [0, 0, 0]
    at = 0
    for time, block, _chapter, *figures in blocks:
        start, end = (_clock(part) for part in time.split(" – "))
        assert start == at, f"{block!r} starts at {time}, the block before ended at {at} min"
        numbers = [int(figure) if figure.isdigit() else 0 for figure in figures]
        if block == "Break":
            assert numbers == [0, 0, 0], f"a break counts as neither teaching, exercise nor slack: {time}"
        else:
            assert sum(numbers) == end - start, f"{block!r}: {figures} in {time}"
        sums = [left + right for left, right in zip(sums, numbers, strict=True)]
        at = end
    assert at == length
    assert [int(figure.strip("*")) for figure in total[3:]] == sums
