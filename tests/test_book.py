"""The book as a website: it builds without a warning, and its key pages hold what they must.

One build per test run (about 12 s; it renders the outputs stored in the notebooks, no
database), shared with ``test_browser.py``: see ``tests/book_site.py``.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from booktools import troubleshooting
from booktools.requirements import pins
from tests.book_site import ROOT, Build, built_book, site_of

REPOSITORY = "missinggreenlet-book/missinggreenlet-book"

MISSING_GREENLET = (
    "sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_() here"
)


class _Page(HTMLParser):
    """The parts of a built page the tests look at: element ids, link targets, text, and the head
    a search engine or a link preview reads (``<title>``, meta tags, canonical address)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text_parts: list[str] = []
        self.title = ""
        self.meta: dict[str, str] = {}
        """``<meta property|name=... content=...>``, keyed by the property or name."""
        self.canonical = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "a" and attributes.get("href"):
            self.links.append(str(attributes["href"]))
        self._in_title = tag == "title"
        key = attributes.get("property") or attributes.get("name")
        if tag == "meta" and key:
            self.meta[key] = attributes.get("content") or ""
        if tag == "link" and attributes.get("rel") == "canonical":
            self.canonical = attributes.get("href") or ""

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return built_book(tmp_path_factory)


@pytest.fixture(scope="module")
def site(build: Build) -> Path:
    return site_of(build)


def test_build_passes_without_warnings(build: Build) -> None:
    log = re.sub(r"\x1b\[[0-9;]*m", "", build.log)
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    assert build.returncode == 0 and not warnings, "\n".join(warnings) or log[-3000:]


def test_chapter_1_renders_missinggreenlet_as_a_traceback(site: Path) -> None:
    source = (site / "notebooks" / "01-reproduce-missinggreenlet.html").read_text(encoding="utf-8")
    tracebacks = re.findall(r'<div class="output traceback highlight-pytb[^"]*">(.*?)</div>', source, re.S)
    assert any(MISSING_GREENLET in html.unescape(re.sub(r"<[^>]+>", "", block)) for block in tracebacks), (
        "chapter 1 should show MissingGreenlet in a highlighted traceback block"
    )


def test_troubleshooting_page_holds_every_message(site: Path) -> None:
    """Every entry's message and every output it quotes (``% stored:``), as the built page shows
    them. Which chapter stores each is ``tests/test_routing.py``'s, from the same parser."""
    page = parse(site / "book" / "troubleshooting.html")
    messages = [text for entry in troubleshooting.entries(ROOT / "book" / "troubleshooting.md")
                for text in (entry.message, *entry.stored)]
    assert len(messages) > 20
    missing = [message for message in messages if not troubleshooting.found(message, page.text)]
    assert not missing, f"not on the troubleshooting page: {missing}"
    assert "xd2s" in page.text
    assert "https://sqlalche.me/e/21/xd2s" in page.links


def test_landing_page_routes_to_troubleshooting(site: Path) -> None:
    assert 'url=book/intro.html' in (site / "index.html").read_text(encoding="utf-8")
    page = parse(site / "book" / "intro.html")
    assert any(link.startswith("troubleshooting.html#") for link in page.links)
    assert MISSING_GREENLET in page.text


def test_exercise_solution_is_hidden_in_a_dropdown(site: Path) -> None:
    source = (site / "notebooks" / "01-reproduce-missinggreenlet.html").read_text(encoding="utf-8")
    solution = re.search(r'<div class="solution dropdown admonition"[^>]*>(.*?)</section>\s*</div>', source, re.S)
    assert solution, "chapter 1's solution should be a dropdown (sphinx-exercise :class: dropdown)"
    assert '"alembic history": False' in html.unescape(re.sub(r"<[^>]+>", "", solution.group(1)))
    assert "togglebutton" in source, "the dropdown needs sphinx-togglebutton to fold"


def test_internal_links_and_anchors_resolve(site: Path) -> None:
    """Every in-book link lands on a page that exists, and on an anchor that page has."""
    pages = {path: parse(path) for path in site.rglob("*.html") if "_static" not in path.parts}
    broken = []
    for path, page in pages.items():
        for link in page.links:
            if re.match(r"^[a-z]+:", link) or link.startswith("_"):
                continue
            target, _, fragment = link.partition("#")
            target_path = (path.parent / target).resolve() if target else path
            if target_path.suffix != ".html":
                continue
            if target_path not in pages:
                broken.append(f"{path.relative_to(site)}: {link} (no such page)")
            elif fragment and fragment not in pages[target_path].ids:
                broken.append(f"{path.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(sorted(set(broken)))


def test_glossary_anchors_chapters_use_exist() -> None:
    """Chapters link ``../book/glossary.md#<slug>``: these are the slugs MyST makes of its headings."""
    slugs = subprocess.run(
        [str(Path(sys.executable).parent / "myst-anchors"), "-l", "3", str(ROOT / "book" / "glossary.md")],
        capture_output=True, text=True, check=True,
    ).stdout
    expected = {"async-engine", "autogenerate", "dbapi", "envpy", "event-loop", "greenlet", "lazy-loading",
                "missinggreenlet", "offline-mode", "run_sync", "scram"}
    assert expected <= set(re.findall(r'id="([^"]+)"', slugs))


def test_search_and_copy_button_are_built(site: Path) -> None:
    assert (site / "search.html").is_file()
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    # Terms are stored stemmed, as the search box stems what a reader types: "xd2s" -> "xd2".
    for term in ("missinggreenlet", "greenlet_spawn", "xd2"):
        assert f'"{term}"' in index, f"search does not know {term!r}"
    chapter = (site / "notebooks" / "01-reproduce-missinggreenlet.html").read_text(encoding="utf-8")
    assert "copybutton.js" in chapter and (site / "_static" / "copybutton.js").is_file()


def test_launch_buttons_open_the_notebook_on_binder_and_colab(site: Path) -> None:
    links = parse(site / "notebooks" / "01-reproduce-missinggreenlet.html").links
    notebook = "notebooks/01-reproduce-missinggreenlet.ipynb"
    assert f"https://mybinder.org/v2/gh/{REPOSITORY}/main?urlpath=lab/tree/{notebook}" in links
    assert f"https://colab.research.google.com/github/{REPOSITORY}/blob/main/{notebook}" in links
    assert f"https://github.com/{REPOSITORY}" in links


def config_value(key: str) -> str:
    """A value of ``_config.yml``, ``title`` or ``section.key`` (read as text, as booktools reads
    ``repository.url``; a YAML anchor before the value, ``&name``, is skipped, quotes dropped)."""
    *section, name = key.split(".")
    within = rf"^{section[0]}:\s*\n(?:[ \t]+.*\n)*?[ \t]+" if section else "^"
    found = re.search(rf"{within}{name}:[ \t]*(?:&\S+[ \t]+)?(?P<value>.+)$",
                      (ROOT / "_config.yml").read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"_config.yml has no {key}"
    return found["value"].strip().strip('"')


def content_pages(site: Path) -> list[Path]:
    """The book's own pages: the prose pages and the chapters (not search, index or redirects)."""
    return sorted([*site.glob("book/*.html"), *site.glob("notebooks/*.html")])


def test_sitemap_lists_every_page_at_the_published_address(site: Path) -> None:
    base_url = config_value("html.baseurl")
    sitemap = ElementTree.parse(site / "sitemap.xml")
    listed = sorted(loc.text or "" for loc in sitemap.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc"))
    expected = sorted(base_url + page.relative_to(site).as_posix() for page in content_pages(site))
    assert len(expected) > 20
    assert listed == expected


def test_every_page_has_a_title_description_and_open_graph_tags(site: Path) -> None:
    """What a search result or a shared link shows: the page's own heading as its title, a
    description from its opening prose, and its published address (canonical and og:url)."""
    base_url, book_title = config_value("html.baseurl"), config_value("title")
    problems, titles = [], []
    for path in content_pages(site):
        page = parse(path)
        name = path.relative_to(site).as_posix()
        address = base_url + name
        heading = page.meta.get("og:title", "")
        titles.append(page.title)
        description = page.meta.get("description", "")
        expected = {
            "<title>": (page.title, f"{heading} \u2014 {book_title}"),
            "canonical": (page.canonical, address),
            "og:url": (page.meta.get("og:url"), address),
            "og:site_name": (page.meta.get("og:site_name"), book_title),
            "og:type": (page.meta.get("og:type"), "website"),
            "og:description": (page.meta.get("og:description"), description),
        }
        problems += [f"{name}: {what} is {got!r}, not {want!r}" for what, (got, want) in expected.items()
                     if got != want]
        if not heading or heading not in page.text:
            problems.append(f"{name}: og:title {heading!r} is not the page's heading")
        if len(description) < 80 or description.startswith(book_title):
            problems.append(f"{name}: meta description too thin: {description!r}")
    assert not problems, "\n".join(problems)
    assert len(set(titles)) == len(titles), f"two pages share a <title>: {titles}"


def test_versions_page_matches_requirements() -> None:
    """book/versions.md quotes the pins of requirements.txt; a bumped pin must update the page."""
    page = (ROOT / "book" / "versions.md").read_text(encoding="utf-8").lower()
    pinned = pins(ROOT / "requirements.txt")
    assert pinned
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| ")}
    stale = [
        f"{name}=={version}"
        for name, version in pinned.items()
        if not any(row.startswith(name.lower()) and f"| {version} |" in line for row, line in rows.items())
    ]
    assert not stale, f"book/versions.md does not show: {stale}"
