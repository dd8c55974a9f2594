"""Where an error leads, checked without building the book: the troubleshooting page's entries
against the chapters' stored outputs, and the tables that link to the entries.

The page is read by ``booktools.troubleshooting`` (the same parser that writes the "paste
your traceback" box's patterns at build time); the notebooks are read as stored. That the box
sends every stored error to an entry linking its chapter is ``tests/test_browser.py``'s, in a
real browser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from booktools import troubleshooting
from booktools.troubleshooting import Entry, found, heading_message, pattern_regex, stored_output

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "troubleshooting.md"
LANDING = ROOT / "book" / "intro.md"
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    found_entries = troubleshooting.entries(PAGE)
    assert len(found_entries) > 20, "the troubleshooting page should have its entries"
    return found_entries


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    """Each chapter's stored output, by file stem."""
    return {notebook.stem: stored_output(notebook) for notebook in sorted(NOTEBOOKS.glob("*.ipynb"))}


def test_every_entry_has_a_label_a_message_and_a_chapter(entries: list[Entry]) -> None:
    """A label to link to (the tables, the box, ``{ref}``), a message in its heading, and a chapter."""
    problems = [f"line {entry.line}: {entry.heading!r} has no (error-...)= label" for entry in entries
                if not entry.label.startswith("error-")]
    problems += [f"{entry.label}: no message in backticks in its heading" for entry in entries if not entry.message]
    problems += [f"{entry.label}: links no chapter (../notebooks/NN-slug.ipynb)" for entry in entries
                 if not entry.chapters]
    labels = [entry.label for entry in entries]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    problems += [f"{label}: two entries have it" for label in twice]
    assert not problems, "\n".join(problems)


def test_every_entry_links_chapters_that_exist(entries: list[Entry], outputs: dict[str, str]) -> None:
    missing = [f"{entry.label}: {stem}" for entry in entries for stem in entry.chapters if stem not in outputs]
    assert not missing, f"entries link notebooks that do not exist: {missing}"


def test_every_entry_message_is_stored_by_a_chapter_it_links(entries: list[Entry], outputs: dict[str, str]) -> None:
    """The heading quotes a stored output (``…`` standing for what varies), and links a chapter
    that stores it: the page cannot drift from what the code prints, nor point away from it.

    An entry whose message no chapter raises says so (``% not-stored: why``) instead. Other
    output an entry quotes and declares (``% stored: text``) is checked the same way."""
    problems = [f"{entry.label}: {quote!r} (% stored) is in no stored output of {list(entry.chapters)}"
                for entry in entries for quote in entry.stored
                if not any(found(quote, outputs.get(stem, "")) for stem in entry.chapters)]
    for entry in entries:
        if entry.not_stored:
            continue
        if not any(found(entry.message, outputs.get(stem, "")) for stem in entry.chapters):
            elsewhere = [stem for stem, text in outputs.items() if found(entry.message, text)]
            problems.append(f"{entry.label}: {entry.message!r} is in no stored output of {list(entry.chapters)}"
                            + (f"; it is in {elsewhere}: link one" if elsewhere else ""))
    assert not problems, "\n".join(problems)


def test_entries_marked_not_stored_are_not_stored(entries: list[Entry], outputs: dict[str, str]) -> None:
    """A ``% not-stored`` mark goes once a chapter stores the message."""
    stale = [f"{entry.label}: {entry.message!r} is stored by {stem}" for entry in entries if entry.not_stored
             for stem in entry.chapters if found(entry.message, outputs.get(stem, ""))]
    assert not stale, "\n".join(stale)


@pytest.mark.parametrize("page", [LANDING, PAGE], ids=lambda page: page.name)
def test_every_table_row_message_has_its_entry(entries: list[Entry], page: Path) -> None:
    """Each row of the landing table (and of the troubleshooting page's own table) links an entry
    that exists, and that entry is about the row's message: the message (``…`` a wildcard) is in
    the entry's heading, its ``% paste:`` forms or its quoted output, or one of them is in it.
    (The troubleshooting table may describe a row instead, "the same, from application code".)"""
    by_label = {entry.label: entry for entry in entries}
    rows = troubleshooting.table_rows(page)
    assert rows, f"{page.name} has no table rows linking to troubleshooting entries"
    problems = []
    for row in rows:
        message = (row.messages or (heading_message(row.first_cell),))[0]
        where = f"{page.name}:{row.line}"
        unknown = [label for label in row.labels if label not in by_label]
        if unknown:
            problems.append(f"{where}: links {unknown}, which no entry has as its label")
            continue
        entry = by_label[row.labels[0]]
        texts = [entry.heading, *entry.patterns, entry.body]
        if page == LANDING and not message:
            problems.append(f"{where}: the row names no message in backticks")
        elif message and not (any(found(message, text) for text in texts)
                  or any(re.search(pattern_regex(pattern), message) for pattern in entry.patterns)):
            problems.append(f"{where}: {message!r} is not what entry {entry.label} is about")
    assert not problems, "\n".join(problems)


def test_patterns_compile(entries: list[Entry]) -> None:
    for entry in entries:
        for text in (*entry.patterns, *entry.context):
            re.compile(pattern_regex(text))


def test_every_stored_error_matches_an_entry_linking_its_chapter(entries: list[Entry]) -> None:
    """Every error a chapter stores contains a message of some entry that links that chapter.

    A quick, necessary check; that the box picks such an entry among all that match is
    ``tests/test_browser.py::test_every_stored_error_leads_to_its_chapter``."""
    unrouted = [
        f"{error.chapter} cell {error.cell}: {error.last_line.strip()[:160]}"
        for error in troubleshooting.stored_errors(NOTEBOOKS)
        if not any(error.chapter in entry.chapters and any(found(pattern, error.paste) for pattern in entry.patterns)
                   for entry in entries)
    ]
    assert not unrouted, "no entry of book/troubleshooting.md that links the chapter matches:\n" + "\n".join(unrouted)


@pytest.mark.parametrize("page", [LANDING, PAGE], ids=lambda page: page.name)
def test_every_entry_has_a_row(entries: list[Entry], page: Path) -> None:
    """A reader scanning the landing table, or the troubleshooting page's own, finds every entry."""
    linked = {label for row in troubleshooting.table_rows(page) for label in row.labels}
    missing = [f"{entry.label} ({entry.message!r})" for entry in entries if entry.label not in linked]
    assert not missing, f"no row of {page.name}'s table links: {missing}"
