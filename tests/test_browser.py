"""The built book in a real browser: the system's headless Chromium, driven by Playwright.

Each view opens one page of the book at one width, scrolls to an anchor, saves a screenshot
to ``_build/screenshots/<view>.png`` (CI keeps that folder: look at the pictures) and checks
what a reader must see there. Every view also checks that the page finds all its own files
and runs its scripts without an error. Every page of ``_toc.yml`` gets a phone-width view, so
a new chapter is checked without touching this file; a view with checks of its own is one
entry of ``VIEWS``.

The book is the one built once per run for ``test_book.py`` too (``tests/book_site.py``),
served over HTTP on 127.0.0.1; the browser reaches no other host. Needs Chromium: without
it the tests are skipped, saying why, unless ``REQUIRE_BROWSER=1`` (set it where Chromium was
installed on purpose, as in CI), which makes a missing Chromium a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from playwright.sync_api import Browser, Error, Page, Response, expect, sync_playwright

from tests.book_site import ROOT, built_book, site_of

SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
PHONE_WIDTH = 390
"""An iPhone 12 to 15 in portrait, in CSS pixels."""

MISSING_GREENLET = "sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_() here"
PASTED_ERROR = (
    f"{MISSING_GREENLET}. Was IO attempted in an unexpected place? "
    "(Background on this error at: https://sqlalche.me/e/21/xd2s)"
)
"""The last line of the traceback, whole, as a reader pastes it into the search box."""

# sphinx-thebe 0.3.1 writes its one-line inline settings script into every page twice under
# Sphinx 7.4; the second copy fails on redeclaring a constant the first one set. Harmless: the
# settings are in place, and this book has no live-code (thebe) button.
KNOWN_SCRIPT_ERRORS = frozenset({"Identifier 'THEBE_JS_URL' has already been declared"})

Check = Callable[[Page], None]


def traceback_shown(page: Page) -> None:
    traceback = page.locator("div.output.traceback").filter(has_text="sqlalchemy.exc.MissingGreenlet")
    expect(traceback.first).to_be_in_viewport()


def solution_folded_and_opens(page: Page) -> None:
    solution = page.locator("div.solution.dropdown").first
    body = solution.locator("section").first
    expect(solution).to_be_in_viewport()
    expect(body).to_be_hidden()
    solution.locator("button.toggle-button").click()
    expect(body).to_be_visible()


def search_finds_the_error_pages(page: Page) -> None:
    found = page.locator("#search-results li a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    for wanted in ("book/troubleshooting.html", "notebooks/01-reproduce-missinggreenlet.html"):
        assert wanted in found, f"searching the pasted error does not find {wanted}: {found}"


def error_on_the_first_screen(page: Page) -> None:
    expect(page.get_by_text(MISSING_GREENLET).first).to_be_in_viewport()


def no_sideways_scrolling(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"the page is {width} px wide on a {PHONE_WIDTH} px screen: it scrolls sideways"


@dataclass(frozen=True)
class View:
    name: str
    """The test's id and the screenshot's file name."""
    page: str
    """Under the built HTML folder, e.g. ``book/intro.html``."""
    width: int = 1280
    anchor: str = ""
    """The id of the element to scroll to the top of the screen."""
    query: str = ""
    """What to type into the search page."""
    ready: str = ""
    """Text to wait for before the screenshot (search results come after the page has loaded)."""
    checks: tuple[Check, ...] = ()

    @property
    def phone(self) -> bool:
        return self.width <= PHONE_WIDTH


def book_pages() -> list[str]:
    """Every page of ``_toc.yml`` (its root, then each ``file:``), as built: ``book/intro.html``..."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    return [f"{name}.html" for name in re.findall(r"^\s*(?:root|- file):\s*(\S+)", toc, re.MULTILINE)]


CHAPTER_1 = "notebooks/01-reproduce-missinggreenlet.html"

NAMED_VIEWS = [
    View("landing", "book/intro.html", checks=(error_on_the_first_screen,)),
    View("chapter1-traceback", CHAPTER_1, anchor="autogenerate-missinggreenlet", checks=(traceback_shown,)),
    View("chapter1-exercise", CHAPTER_1, anchor="exercise", checks=(solution_folded_and_opens,)),
    View("search", "search.html", query=PASTED_ERROR, ready="Search finished", checks=(search_finds_the_error_pages,)),
    View("phone-landing-errors", "book/intro.html", PHONE_WIDTH, anchor="start-from-your-error",
         checks=(no_sideways_scrolling,)),
    View("phone-chapter1-traceback", CHAPTER_1, PHONE_WIDTH, anchor="autogenerate-missinggreenlet",
         checks=(traceback_shown, no_sideways_scrolling)),
]
VIEWS = [
    *NAMED_VIEWS,
    # Every other page, as it opens on a phone (a named view above already opens the others there).
    *(View(f"phone-{Path(page).stem}", page, PHONE_WIDTH, checks=(no_sideways_scrolling,)) for page in book_pages()
      if not any(view.phone and view.page == page for view in NAMED_VIEWS)),
]


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = find_chromium()
    if chromium is None:
        reason = (f"no Chromium on PATH (looked for {', '.join(CHROMIUM_NAMES)}): the browser checks need one; "
                  "on Debian or Ubuntu: apt-get install chromium")
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            # Chromium's sandbox cannot start as root (CI, containers); the pages are the book's own.
            chromium_sandbox=False,
            args=[
                # Offline and repeatable: every host name but the local server's fails to resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                # A container's small /dev/shm crashes Chromium on long pages; /tmp has room.
                "--disable-dev-shm-usage",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The built book, served over HTTP on 127.0.0.1 as a web host would serve it.

    Not from ``file://``: the search page fetches the pages it found, which a browser
    refuses to do from files.
    """
    site = site_of(built_book(tmp_path_factory))

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """No line per request on stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture(scope="module")
def tabs(browser: Browser) -> Iterator[dict[bool, Page]]:
    """One tab on a desktop screen (False) and one on a phone (True), reused from view to view."""
    contexts = [
        browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1),
        browser.new_context(viewport={"width": PHONE_WIDTH, "height": 844}, device_scale_factor=1,
                            is_mobile=True, has_touch=True),
    ]
    yield {False: contexts[0].new_page(), True: contexts[1].new_page()}
    for context in contexts:
        context.close()


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_page_in_a_browser(tabs: dict[bool, Page], site_url: str, view: View) -> None:
    page = tabs[view.phone]
    script_errors: list[str] = []
    missing: list[str] = []

    def script_failed(error: Error) -> None:
        if str(error) not in KNOWN_SCRIPT_ERRORS:
            script_errors.append(str(error))

    def answered(response: Response) -> None:
        if response.url.startswith(site_url) and response.status >= 400:
            missing.append(f"{response.url} ({response.status})")

    page.on("pageerror", script_failed)
    page.on("response", answered)
    try:
        response = page.goto(site_url + view.page + (f"?q={quote_plus(view.query)}" if view.query else ""))
        assert response is not None and response.ok, f"{view.page} was not built (is it in _toc.yml?)"
        if view.ready:
            expect(page.locator("body")).to_contain_text(view.ready)
        if view.anchor:
            assert page.evaluate(
                "id => { const e = document.getElementById(id); if (e) e.scrollIntoView(); return !!e; }", view.anchor,
            ), f"{view.page} has no element with id {view.anchor!r}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{view.name}.png")
        for check in view.checks:
            check(page)
        assert not script_errors, f"JavaScript errors on {view.page}: {script_errors}"
        assert not missing, f"{view.page} refers to files the site does not have: {missing}"
    finally:
        page.remove_listener("pageerror", script_failed)
        page.remove_listener("response", answered)
