"""Sphinx extension: the "paste your traceback" box, and its patterns written at build time.

A page places the box with the directive

    ```{paste-traceback}
    ```

The box is static and runs in the reader's browser (``book/_static/paste-traceback.js``):
it reads the pasted traceback's last error line and shows the troubleshooting entry it
matches and the chapters that entry links. What it matches against is generated here, at
every build, from ``book/troubleshooting.md`` (``booktools.troubleshooting.routes``) into
``_static/troubleshooting-routes.js``: the page stays the one source of truth. Wired in
``_config.yml`` (``sphinx.extra_extensions``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# docutils ships no types (types-docutils is not among the pins); Sphinx's own are enough here.
from docutils import nodes  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from booktools.troubleshooting import routes

ROUTES_FILE = "troubleshooting-routes.js"
SCRIPT = "paste-traceback.js"
STYLE = "paste-traceback.css"
BOX = """\
<form class="paste-traceback" data-paste-traceback role="search" aria-label="Find your error">
  <label for="paste-traceback-input-{number}">Paste your whole traceback: it leads to its entry and the
    chapters that reproduce it. (It runs in your browser: nothing is sent anywhere.)</label>
  <textarea id="paste-traceback-input-{number}" rows="3" spellcheck="false" autocomplete="off"
    placeholder="Traceback (most recent call last):&#10;  ...&#10;sqlalchemy.exc.MissingGreenlet: ..."></textarea>
  <button type="submit">Go to its entry</button>
  <div class="paste-traceback-result" aria-live="polite" hidden></div>
</form>
"""


class PasteTraceback(SphinxDirective):
    """The box, as raw HTML (other builders get nothing: it needs a browser)."""

    def run(self) -> list[nodes.Node]:
        boxes: dict[str, int] = self.env.temp_data.setdefault("paste_traceback_boxes", {})
        boxes[self.env.docname] = boxes.get(self.env.docname, 0) + 1
        pages: set[str] = getattr(self.env, "paste_traceback_pages", set())
        pages.add(self.env.docname)
        self.env.paste_traceback_pages = pages  # type: ignore[attr-defined]
        return [nodes.raw("", BOX.format(number=boxes[self.env.docname]), format="html")]


def _purge(app: Sphinx, env: Any, docname: str) -> None:
    getattr(env, "paste_traceback_pages", set()).discard(docname)


def _merge(app: Sphinx, env: Any, docnames: set[str], other: Any) -> None:
    env.paste_traceback_pages = getattr(env, "paste_traceback_pages", set()) | (
        getattr(other, "paste_traceback_pages", set()) & docnames)


def _page_assets(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """The box's script, its patterns and its style, on the pages that have a box only."""
    if pagename in getattr(app.env, "paste_traceback_pages", set()):
        app.add_js_file(ROUTES_FILE)
        app.add_js_file(SCRIPT)
        app.add_css_file(STYLE)


def _write_routes(app: Sphinx, exception: BaseException | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    data = json.dumps(routes(Path(app.srcdir)), ensure_ascii=False, indent=1)
    (static / ROUTES_FILE).write_text(
        "// Generated from book/troubleshooting.md at build time by booktools.paste_box: do not edit.\n"
        f"window.TROUBLESHOOTING_ROUTES = {data};\n", encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("paste-traceback", PasteTraceback)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("html-page-context", _page_assets)
    app.connect("build-finished", _write_routes)
    # The routes change whenever the troubleshooting page does; they are rewritten on every build.
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
