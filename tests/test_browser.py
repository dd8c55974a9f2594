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

from booktools.troubleshooting import stored_errors
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


# The "paste your traceback" box (book/_static/paste-traceback.js; its patterns generated from
# book/troubleshooting.md at build time by booktools.paste_box). Every error a chapter stores is
# pasted as a reader would paste it, and must lead to an entry that links that chapter.

STORED_ERRORS = stored_errors(ROOT / "notebooks")
CHAPTERS_WITH_ERRORS = sorted({error.chapter for error in STORED_ERRORS})
BOX = "form[data-paste-traceback]"


@dataclass(frozen=True)
class Answer:
    entry: str
    """The entry's label ("" when none matched)."""
    chapters: tuple[str, ...]
    """The chapters the answer links, as ``notebooks/NN-slug.html``."""


def paste(page: Page, text: str) -> Answer:
    """Paste ``text`` into the page's first box and read the answer it shows."""
    box = page.locator(BOX).first
    box.locator("textarea").fill(text)
    result = box.locator(".paste-traceback-result")
    expect(result).to_be_visible()
    chapters = (result.get_attribute("data-chapters") or "").split()
    return Answer(result.get_attribute("data-entry") or "", tuple(chapters))


@pytest.fixture(scope="module")
def box_page(tabs: dict[bool, Page], site_url: str) -> Page:
    page = tabs[False]
    page.goto(site_url + "book/intro.html")
    expect(page.locator(BOX)).to_have_count(1)
    return page


@pytest.mark.parametrize("chapter", CHAPTERS_WITH_ERRORS)
def test_every_stored_error_leads_to_its_chapter(box_page: Page, chapter: str) -> None:
    """Each error output of the chapter (its traceback as the page shows it) and each error line
    it prints (a failing command's last line, with the output above it) leads to an entry that
    links the chapter."""
    lost = []
    for error in (error for error in STORED_ERRORS if error.chapter == chapter):
        answer = paste(box_page, error.paste)
        if f"notebooks/{chapter}.html" not in answer.chapters:
            lost.append(f"cell {error.cell}: {error.last_line.strip()[:150]!r} -> "
                        f"{answer.entry or 'no entry'} {list(answer.chapters)}")
    assert not lost, f"pasted, these errors of {chapter} lead to no entry linking it:\n" + "\n".join(lost)


# Tracebacks as readers meet them outside the book: other paths (a container, Windows, a
# virtualenv), other versions (SQLAlchemy 2.0's wording), other line numbers, names and
# revisions, frames the book's trimmed tracebacks leave out, log prefixes, exit-time warnings.
READERS_TRACEBACKS = {
    "alembic-2.0-in-docker": ("error-xd2s-20", """\
api-1  | Traceback (most recent call last):
api-1  |   File "/usr/local/bin/alembic", line 8, in <module>
api-1  |     sys.exit(main())
api-1  |   File "/venv/lib/python3.12/site-packages/alembic/config.py", line 636, in main
api-1  |     CommandLine(prog=prog).main(argv=argv)
api-1  |   File "/venv/lib/python3.12/site-packages/alembic/command.py", line 236, in revision
api-1  |     script_directory.run_env()
api-1  |   File "/venv/lib/python3.12/site-packages/alembic/script/base.py", line 583, in run_env
api-1  |     util.load_python_file(self.dir, "env.py")
api-1  |   File "/srv/api/migrations/env.py", line 81, in <module>
api-1  |     run_migrations_online()
api-1  |   File "/srv/api/migrations/env.py", line 69, in run_migrations_online
api-1  |     with connectable.connect() as connection:
api-1  |   File "/venv/lib/python3.12/site-packages/sqlalchemy/engine/base.py", line 3273, in connect
api-1  |     return self._connection_cls(self)
api-1  |   File "/venv/lib/python3.12/site-packages/sqlalchemy/dialects/postgresql/asyncpg.py", line 955, in connect
api-1  |     await_only(creator_fn(*arg, **kw)),
api-1  |   File "/venv/lib/python3.12/site-packages/sqlalchemy/util/_concurrency_py3k.py", line 116, in await_only
api-1  |     raise exc.MissingGreenlet(
api-1  | sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here. \
Was IO attempted in an unexpected place? (Background on this error at: https://sqlalche.me/e/20/xd2s)
api-1  | sys:1: RuntimeWarning: coroutine 'connect' was never awaited
"""),
    "alembic-2.1-on-windows": ("error-xd2s", """\
Traceback (most recent call last):
  File "C:\\dev\\shop\\.venv\\Lib\\site-packages\\alembic\\util\\pyfiles.py", line 140, in load_module_py
    spec.loader.exec_module(module)  # type: ignore
  File "C:\\dev\\shop\\alembic\\env.py", line 77, in <module>
    run_migrations_online()
  File "C:\\dev\\shop\\alembic\\env.py", line 64, in run_migrations_online
    with connectable.connect() as connection:
  File "C:\\dev\\shop\\.venv\\Lib\\site-packages\\sqlalchemy\\dialects\\postgresql\\asyncpg.py", line 981, in connect
    return await_(
  File "C:\\dev\\shop\\.venv\\Lib\\site-packages\\sqlalchemy\\util\\concurrency.py", line 160, in await_
    raise exc.MissingGreenlet(
sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_() here. Was IO attempted in \
an unexpected place? (Background on this error at: https://sqlalche.me/e/21/xd2s)
"""),
    "lazy-load-in-an-endpoint-2.0": ("error-lazy-loading", """\
ERROR:    Exception in ASGI application
Traceback (most recent call last):
  File "/srv/shop/app/routes/orders.py", line 38, in list_orders
    return [{"id": order.id, "items": len(order.items)} for order in orders]
  File "/srv/shop/.venv/lib/python3.11/site-packages/sqlalchemy/orm/attributes.py", line 566, in __get__
    return self.impl.get(state, dict_)  # type: ignore[no-any-return]
  File "/srv/shop/.venv/lib/python3.11/site-packages/sqlalchemy/orm/strategies.py", line 918, in _load_for_state
    return self._emit_lazyload(
  File "/srv/shop/.venv/lib/python3.11/site-packages/sqlalchemy/orm/strategies.py", line 1082, in _emit_lazyload
    result = session.execute(
  File "/srv/shop/.venv/lib/python3.11/site-packages/sqlalchemy/dialects/postgresql/asyncpg.py", line 572, in execute
    self._adapt_connection.await_(
  File "/srv/shop/.venv/lib/python3.11/site-packages/sqlalchemy/util/_concurrency_py3k.py", line 116, in await_only
    raise exc.MissingGreenlet(
sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here. Was IO attempted \
in an unexpected place? (Background on this error at: https://sqlalche.me/e/20/xd2s)
"""),
    "column-read-after-commit-2.1": ("error-after-commit", """\
Traceback (most recent call last):
  File "/app/services/signup.py", line 27, in create_user
    log.info("created user %s", user.email)
  File "/app/.venv/lib/python3.13/site-packages/sqlalchemy/orm/attributes.py", line 570, in __get__
    return self.impl.get(state, dict_)  # type: ignore[no-any-return]
  File "/app/.venv/lib/python3.13/site-packages/sqlalchemy/orm/state.py", line 822, in _load_expired
    self.manager.expired_attribute_loader(self, toload, passive)
  File "/app/.venv/lib/python3.13/site-packages/sqlalchemy/orm/loading.py", line 1660, in _load_scalar_attributes
    result = load_on_ident(
  File "/app/.venv/lib/python3.13/site-packages/sqlalchemy/dialects/postgresql/asyncpg.py", line 675, in execute
    await_(self._prepare_and_execute(operation, parameters))
  File "/app/.venv/lib/python3.13/site-packages/sqlalchemy/util/concurrency.py", line 161, in await_
    raise exc.MissingGreenlet(
sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_() here. Was IO attempted in \
an unexpected place? (Background on this error at: https://sqlalche.me/e/21/xd2s)
"""),
    "wrong-password-in-kubernetes": ("error-password", """\
asyncpg.exceptions.InvalidPasswordError: password authentication failed for user "shop_app"

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/opt/venv/lib/python3.12/site-packages/sqlalchemy/engine/base.py", line 145, in __init__
    self._dbapi_connection = engine.raw_connection()
sqlalchemy.exc.DBAPIError: (sqlalchemy.dialects.postgresql.asyncpg.Error) password authentication failed for user \
"shop_app"
(Background on this error at: https://sqlalche.me/e/21/dbapi)
"""),
    "unknown-revision": ("error-cant-locate-revision", """\
INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.
INFO  [alembic.runtime.migration] Will assume transactional DDL.
ERROR [alembic.util.messaging] Can't locate revision identified by 'e4c1a9b07d2f'
  FAILED: Can't locate revision identified by 'e4c1a9b07d2f'
"""),
    "migrations-at-fastapi-startup": ("error-running-loop", """\
  File "/srv/app/main.py", line 22, in lifespan
    command.upgrade(alembic_cfg, "head")
  File "/srv/app/.venv/lib/python3.12/site-packages/alembic/command.py", line 406, in upgrade
    script.run_env()
  File "/srv/app/migrations/env.py", line 89, in run_migrations_online
    asyncio.run(run_async_migrations())
  File "/usr/lib/python3.12/asyncio/runners.py", line 190, in run
    raise RuntimeError(
RuntimeError: asyncio.run() cannot be called from a running event loop
sys:1: RuntimeWarning: coroutine 'run_async_migrations' was never awaited
"""),
    "pytest-asyncio-loop-per-test": ("error-different-loop", """\
FAILED tests/test_users.py::test_create_user - RuntimeError: Task <Task pending name='Task-7' \
coro=<test_create_user() running at /builds/shop/tests/test_users.py:42> cb=[_run_until_complete_cb() at \
/usr/lib/python3.12/asyncio/base_events.py:181]> got Future <Future pending cb=[Protocol._on_waiter_completed()]> \
attached to a different loop
"""),
    "your-package-not-found": ("error-src-layout", """\
  File "/home/sam/billing/migrations/env.py", line 9, in <module>
    from billing.models import Base
ModuleNotFoundError: No module named 'billing'
"""),
    "sslmode-from-a-hosting-url": ("error-sslmode", """\
  File "/workspace/.venv/lib/python3.12/site-packages/asyncpg/connection.py", line 2329, in connect
    return await connect_utils._connect(
TypeError: connect() got an unexpected keyword argument 'sslmode'
"""),
    "template-missing-in-ci": ("error-no-mako", """\
  File "/runner/_work/api/.venv/lib/python3.11/site-packages/alembic/script/base.py", line 654, in _generate_template
    with open(src, encoding="utf-8") as f:
FileNotFoundError: [Errno 2] No such file or directory: '/runner/_work/api/db/migrations/script.py.mako'
"""),
}


@pytest.mark.parametrize("name", READERS_TRACEBACKS)
def test_a_readers_traceback_leads_to_its_entry(box_page: Page, name: str) -> None:
    expected, traceback = READERS_TRACEBACKS[name]
    answer = paste(box_page, traceback)
    assert answer.entry == expected, f"{name} leads to {answer.entry or 'no entry'}, not {expected}"


@pytest.mark.parametrize("page_name", ["book/intro.html", "book/troubleshooting.html"])
def test_the_box_takes_the_reader_to_the_entry(tabs: dict[bool, Page], site_url: str, page_name: str) -> None:
    """Paste, press the button: the troubleshooting entry is on screen, its chapters linked."""
    page = tabs[True]
    page.goto(site_url + page_name)
    answer = paste(page, READERS_TRACEBACKS["alembic-2.1-on-windows"][1])
    assert answer.entry == "error-xd2s" and "notebooks/01-reproduce-missinggreenlet.html" in answer.chapters
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(BOX).first.screenshot(path=SCREENSHOTS / f"phone-paste-box-{Path(page_name).stem}.png")
    page.locator(BOX).first.locator("button[type=submit]").click()
    page.wait_for_url(f"{site_url}book/troubleshooting.html#error-xd2s")
    expect(page.locator("#error-xd2s")).to_be_in_viewport()


def test_the_box_says_when_no_entry_matches(box_page: Page) -> None:
    box = box_page.locator(BOX).first
    assert paste(box_page, "KeyError: 'not an error this book has'").entry == ""
    search = box.locator("a.paste-traceback-search")
    expect(search).to_have_attribute("href", re.compile(r"search\.html\?q=KeyError"))
