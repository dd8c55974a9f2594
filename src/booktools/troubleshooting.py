"""The troubleshooting page as data: its entries, the tables that route to them, the errors
the chapters store.

``book/troubleshooting.md`` is the one source of truth for where an error message leads. An
entry is a ``(error-slug)=`` label, a ``##``/``###`` heading that starts with the message in
backticks (``…`` a wildcard: a name, a path, a number that varies), and a body that links the
chapters (``../notebooks/NN-slug.ipynb``) whose stored output shows it. The body may add, as
MyST comments (not rendered):

- ``% paste: <message>``: another form of the message that leads to this entry (same
  wildcards), e.g. the same error as another library words it;
- ``% paste-context: <text>``: text elsewhere in a traceback (a frame, a log line) that
  tells this entry from another with the same message; the entry with more of its context
  present wins;
- ``% not-stored: <why>``: the heading's message is on the page but no chapter raises it;
- ``% stored: <text>``: other output the entry quotes, which a chapter it links must store too.

The troubleshooting table at the top of the page counts too: a row that starts with a message
in backticks routes that message to the entry it links to.

Read by the tests (``tests/test_routing.py``: each entry's message is in a linked chapter's
stored output; each landing-table row has its entry), by the Sphinx extension
``booktools.paste_box``, which writes :func:`routes` for the "paste your traceback" box at
build time, and by that box's browser test, which pastes every error :func:`stored_errors`
finds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WILDCARD = re.compile(r"\s*(?:…|\.\.\.|<[a-z]+(?: [a-z]+)+>)\s*")
"""``…``, ``...`` and a placeholder such as ``<your package>``: any text, on one line or more."""
WILDCARD_REGEX = r"[\s\S]*?"
REGEX_SPECIALS = set("\\^$.|?*+()[]{}")
"""Escaped one by one, so that the pattern means the same to Python's ``re`` and to JavaScript."""

LABEL = re.compile(r"^\((?P<label>[\w-]+)\)=\s*$")
HEADING = re.compile(r"^(?P<hashes>#{2,3}) (?P<text>.+?)\s*$")
FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})")
COMMENT = re.compile(r"^%\s*(?P<key>paste|paste-context|not-stored|stored):\s*(?P<value>.*?)\s*$")
CODE_SPAN = re.compile(r"`([^`]+)`")
CHAPTER_LINK = re.compile(r"\]\(\.\./notebooks/(?P<stem>[\w-]+)\.ipynb(?:#[\w-]*)?\)")
REF = re.compile(r"\{ref\}`[^`<]*<(?P<label>[\w-]+)>`")
LEADING_MESSAGES = re.compile(r"^(?:`[^`]+`(?:\s*(?:…|,|/|or)\s*)?)+")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

EXCEPTION_NAME = r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning|Greenlet|Interrupt|Exit)"
ERROR_IN_LINE = re.compile(r"\b(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Greenlet): |^FAILED: ")
"""A line that shows an error (not a warning), anywhere in it: how stored stream outputs are searched."""
CONTINUATION = re.compile(r"^(?:E)?[ \t]+\S")


def pattern_regex(message: str) -> str:
    """A regular expression (Python and JavaScript alike) for ``message``: each wildcard any
    text, each run of white space any white space, everything else literal."""
    parts = []
    for index, piece in enumerate(WILDCARD.split(message)):
        if index:
            parts.append(WILDCARD_REGEX)
        words = piece.split()
        parts.append(r"\s+".join("".join(f"\\{char}" if char in REGEX_SPECIALS else char for char in word)
                                 for word in words))
    return "".join(parts)


def specificity(message: str) -> int:
    """How much of ``message`` is literal: its characters outside wildcards and white space."""
    return sum(len("".join(piece.split())) for piece in WILDCARD.split(message))


def normalized(text: str) -> str:
    """``text`` without terminal colours, each run of white space one space (as the box reads a paste)."""
    return " ".join(ANSI.sub("", text).split())


def found(message: str, text: str) -> bool:
    """Whether ``message`` (wildcards and all) occurs in ``text``."""
    return re.search(pattern_regex(message), normalized(text)) is not None


@dataclass(frozen=True)
class Entry:
    """One entry of the troubleshooting page."""

    label: str
    """Its ``(label)=``: the anchor the tables, the box and ``{ref}`` link to ("" if it has none)."""
    heading: str
    """The heading as written, backticks and all."""
    line: int
    message: str
    """The message the heading starts with (several backticked parts joined by ``…``)."""
    patterns: tuple[str, ...]
    """Every form of the message that leads here: the heading's, the top table's, ``% paste:``."""
    context: tuple[str, ...]
    chapters: tuple[str, ...]
    """The notebooks its body links, by file stem: those after "**Shown in**" first, in order."""
    not_stored: str
    """Why no chapter shows the heading's message ("" when one must)."""
    stored: tuple[str, ...]
    """Other output the entry quotes, which a linked chapter must store."""
    body: str

    @property
    def title(self) -> str:
        return self.heading.replace("`", "")


@dataclass(frozen=True)
class Row:
    """A table row that sends a message to entries: in the landing table or the troubleshooting table."""

    path: Path
    line: int
    first_cell: str
    messages: tuple[str, ...]
    """The messages the first cell starts with, in backticks (none for a row that describes its error)."""
    labels: tuple[str, ...]
    """The entries its ``{ref}`` links name."""
    chapters: tuple[str, ...] = field(default=())


def row_messages(text: str) -> tuple[str, ...]:
    """The messages ``text`` (a heading, a table cell) starts with: backticked parts joined by
    ``…`` are one message, parts separated by ``,``, ``/`` or ``or`` are several."""
    leading = LEADING_MESSAGES.match(text.strip())
    if not leading:
        return ()
    messages, current = [], []
    for part in re.finditer(r"`([^`]+)`\s*(…|,|/|or)?", leading.group()):
        current.append(part.group(1))
        if part.group(2) != "…":
            messages.append(" … ".join(current))
            current = []
    return (*messages, " … ".join(current)) if current else tuple(messages)


def heading_message(heading: str) -> str:
    """The message a heading starts with, or, if it starts with words, its first backticked part."""
    spans = row_messages(heading) or CODE_SPAN.findall(heading)
    return spans[0] if spans else ""


def _lines_outside_fences(text: str) -> list[tuple[int, str, bool]]:
    """Each line with its number and whether it is inside a fenced block."""
    result, fence = [], ""
    for number, line in enumerate(text.splitlines(), start=1):
        opening = FENCE.match(line)
        if fence:
            result.append((number, line, True))
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                    and line.strip() == opening.group(1):
                fence = ""
            continue
        if opening:
            fence = opening.group(1)
            result.append((number, line, True))
            continue
        result.append((number, line, False))
    return result


def table_rows(path: Path) -> list[Row]:
    """Every table row of a page that links to an entry with ``{ref}``."""
    rows = []
    for number, line, fenced in _lines_outside_fences(path.read_text(encoding="utf-8")):
        if fenced or not line.startswith("|") or "{ref}" not in line:
            continue
        first_cell = line.split("|")[1].strip()
        rows.append(Row(path, number, first_cell, row_messages(first_cell),
                        tuple(match["label"] for match in REF.finditer(line)),
                        tuple(match["stem"] for match in CHAPTER_LINK.finditer(line))))
    return rows


def entries(path: Path) -> list[Entry]:
    """The entries of the troubleshooting page, in page order, with the top table's messages."""
    lines = _lines_outside_fences(path.read_text(encoding="utf-8"))
    starts = [index for index, (_, line, fenced) in enumerate(lines) if not fenced and HEADING.match(line)]
    table_messages: dict[str, list[str]] = {}
    for row in table_rows(path):
        for label in row.labels[:1]:
            table_messages.setdefault(label, []).extend(row.messages)
    result = []
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(lines)
        number, heading_line, _ = lines[start]
        heading = HEADING.match(heading_line)
        assert heading is not None
        previous = next((line for _, line, _ in reversed(lines[:start]) if line.strip()), "")
        label_match = LABEL.match(previous)
        label = label_match["label"] if label_match else ""
        body_lines = [line for _, line, _ in lines[start + 1:end]]
        # The next entry's label belongs to the next entry.
        while body_lines and (not body_lines[-1].strip() or LABEL.match(body_lines[-1])):
            body_lines.pop()
        comments: dict[str, list[str]] = {"paste": [], "paste-context": [], "not-stored": [], "stored": []}
        for _, line, fenced in lines[start + 1:end]:
            comment = COMMENT.match(line)
            if comment and not fenced:
                comments[comment["key"]].append(comment["value"])
        body = "\n".join(body_lines)
        message = heading_message(heading["text"])
        patterns = [message, *table_messages.get(label, []), *comments["paste"]]
        result.append(Entry(
            label=label,
            heading=heading["text"],
            line=number,
            message=message,
            patterns=tuple(dict.fromkeys(pattern for pattern in patterns if pattern)),
            context=tuple(comments["paste-context"]),
            # The chapters after "**Shown in**" first: those show the error; the others fix it.
            chapters=tuple(dict.fromkeys(match["stem"] for match in (
                *CHAPTER_LINK.finditer(body.partition("**Shown in**")[2]), *CHAPTER_LINK.finditer(body)))),
            not_stored=" ".join(comments["not-stored"]),
            stored=tuple(comments["stored"]),
            body=body,
        ))
    return result


def _cells(notebook: Path) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return cells


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def stored_output(notebook: Path) -> str:
    """Everything a chapter's stored outputs show: streams, results, errors and their tracebacks."""
    shown = []
    for cell in _cells(notebook):
        for output in cell.get("outputs", []):
            shown.append(_joined(output.get("text", "")))
            shown.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
            shown.append("\n".join(output.get("traceback", [])))
            shown += [_joined(output.get("data", {}).get(kind, "")) for kind in ("text/plain", "text/markdown")]
    return ANSI.sub("", "\n".join(shown))


@dataclass(frozen=True)
class StoredError:
    """An error a chapter stores, as a reader who met it would paste it."""

    chapter: str
    """The notebook's file stem."""
    cell: int
    """The cell's index in the notebook (0-based)."""
    paste: str

    @property
    def last_line(self) -> str:
        return next((line for line in reversed(self.paste.splitlines()) if ERROR_IN_LINE.search(line)),
                    self.paste.splitlines()[-1] if self.paste else "")


def stored_errors(notebooks: Path) -> list[StoredError]:
    """Every error every chapter stores: each error output (its traceback as the page shows it,
    whose last lines are ``ename: evalue`` or the failed command's own), and each stream line
    that shows an error (a failing command's last line a chapter prints), pasted with the
    lines of its output above it."""
    found_errors = []
    for notebook in sorted(notebooks.glob("[0-9][0-9]-*.ipynb")):
        for index, cell in enumerate(_cells(notebook)):
            for output in cell.get("outputs", []):
                if output["output_type"] == "error":
                    traceback = ANSI.sub("", "\n".join(output.get("traceback", [])))
                    first_line = f"{output['ename']}: {output['evalue']}".splitlines()[0]
                    paste = traceback if first_line in traceback or output["ename"] == "CommandFailed" \
                        else f"{traceback}\n{first_line}"
                    found_errors.append(StoredError(notebook.stem, index, paste))
                elif output["output_type"] == "stream":
                    lines = ANSI.sub("", _joined(output.get("text", ""))).splitlines()
                    number = 0
                    while number < len(lines):
                        end = number + 1
                        if ERROR_IN_LINE.search(lines[number]):
                            # With the lines that continue the message (indented, or pytest's `E   `).
                            while end < len(lines) and CONTINUATION.match(lines[end]):
                                end += 1
                            found_errors.append(StoredError(notebook.stem, index, "\n".join(lines[:end])))
                        number = end
    return found_errors


def chapter_title(notebook: Path) -> str:
    """A chapter's ``# Title``."""
    for cell in _cells(notebook):
        if cell["cell_type"] == "markdown":
            heading = re.search(r"^# (.+)$", _joined(cell["source"]), re.MULTILINE)
            if heading:
                return heading.group(1).strip()
    return notebook.stem


def routes(book_root: Path) -> dict[str, Any]:
    """What the "paste your traceback" box needs, addresses relative to the built site's root."""
    notebooks = book_root / "notebooks"
    found_entries = entries(book_root / "book" / "troubleshooting.md")
    return {
        "entries": [
            {
                "label": entry.label,
                "title": entry.title,
                "href": f"book/troubleshooting.html#{entry.label}",
                "patterns": [{"regex": pattern_regex(pattern), "specificity": specificity(pattern)}
                             for pattern in entry.patterns],
                "context": [pattern_regex(text) for text in entry.context],
                "chapters": [{"href": f"notebooks/{stem}.html", "number": int(stem[:2]),
                              "title": re.sub(r"[`*]", "", chapter_title(notebooks / f"{stem}.ipynb"))}
                             for stem in entry.chapters if (notebooks / f"{stem}.ipynb").is_file()],
            }
            for entry in found_entries if entry.label and entry.patterns
        ],
        # A line the box reads as an error: `Name: message` (dotted names too), Alembic's
        # `FAILED:`, behind pytest's `E   ` or a `path:line: ` prefix.
        "exceptionLine": rf"^(?:E\s+)?(?:[\w./<>-]+:\d+: )?(?:{EXCEPTION_NAME}: |FAILED: )",
        "warningLine": r"^(?:E\s+)?(?:[\w./<>-]+:\d+: )?(?:[\w.]*\.)?\w*Warning: ",
    }
