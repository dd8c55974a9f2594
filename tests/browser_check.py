"""Look at the built book in a real browser: headless Chromium screenshots of the key pages.

    python tests/browser_check.py _build/html OUTDIR

Screenshots the landing page, chapter 1 at its traceback, chapter 1 at its exercise, the
troubleshooting page, a search for an error message, and the landing page and chapter 1 at
phone width (390 px). In the pages themselves it checks that the traceback is shown, the
exercise's solution is folded, the search finds the troubleshooting page, and nothing scrolls
sideways on a phone. Fails if Chromium fails, a check fails, or a screenshot is blank; a person
then looks at the PNGs.

Chromium is driven over its DevTools pipe (``--remote-debugging-pipe``): its ``--screenshot``
flag paints nothing below the first screen once a page scrolls to an anchor.

Not collected by pytest (only ``test_*.py`` is): it needs Chromium (``apt-get install
chromium``), which the book's CI does not install.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
TIMEOUT_S = 30
MIN_INK_FRACTION = 0.005
"""A screenshot with fewer pixels than this differing from its background counts as blank."""

TRACEBACK_SHOWN = """(() => {
  const blocks = [...document.querySelectorAll("div.output.traceback")];
  return blocks.some(b => b.offsetHeight > 0 && b.innerText.includes("sqlalchemy.exc.MissingGreenlet"));
})()"""
SOLUTION_FOLDED = """(() => {
  const solution = document.querySelector("div.solution.dropdown");
  const body = solution && solution.querySelector("section");
  return !!body && body.offsetHeight === 0 && solution.offsetHeight > 0;
})()"""
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
SEARCH_FINDS_TROUBLESHOOTING = """[...document.querySelectorAll("#search-results li a")]
  .some(a => a.getAttribute("href").includes("troubleshooting"))"""
SCROLL_TO = """(() => {
  const target = document.getElementById(%s);
  if (!target) return false;
  window.scrollTo(0, target.getBoundingClientRect().top + window.scrollY - 70);
  return true;
})()"""


@dataclass(frozen=True)
class Shot:
    name: str
    page: str
    width: int
    height: int
    anchor: str = ""
    checks: tuple[tuple[str, str], ...] = ()
    query: str = ""
    ready: str = ""
    """A JavaScript condition to wait for before the screenshot (e.g. search results)."""


SHOTS = (
    Shot("landing", "book/intro.html", 1280, 900),
    Shot("chapter1-traceback", "notebooks/01-reproduce-missinggreenlet.html", 1280, 900,
         anchor="autogenerate-missinggreenlet", checks=(("the MissingGreenlet traceback is shown", TRACEBACK_SHOWN),)),
    Shot("chapter1-exercise", "notebooks/01-reproduce-missinggreenlet.html", 1280, 900,
         anchor="exercise", checks=(("the solution is folded", SOLUTION_FOLDED),)),
    Shot("troubleshooting", "book/troubleshooting.html", 1280, 900),
    Shot("search", "search.html", 1280, 900, query="q=greenlet_spawn+xd2s",
         ready='document.querySelectorAll("#search-results li").length > 0',
         checks=(("the search finds the troubleshooting page", SEARCH_FINDS_TROUBLESHOOTING),)),
    Shot("landing-phone", "book/intro.html", 390, 844, anchor="start-from-your-error",
         checks=(("no sideways scrolling of the page", NO_SIDEWAYS_SCROLL),)),
    Shot("chapter1-phone", "notebooks/01-reproduce-missinggreenlet.html", 390, 844,
         anchor="autogenerate-missinggreenlet",
         checks=(("the MissingGreenlet traceback is shown", TRACEBACK_SHOWN),
                 ("no sideways scrolling of the page", NO_SIDEWAYS_SCROLL))),
)


class DevTools:
    """A headless Chromium and the DevTools protocol over its pipe (fd 3 in, fd 4 out)."""

    def __init__(self, chromium: str, profile: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self._process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=wire_pipes,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_until(self, session: str, expression: str) -> None:
        """Poll a JavaScript expression in the page until it is true."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)["result"].get("value"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {expression}")

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._from_browser, 1 << 20) if ready else b""
            if not chunk:
                stderr = self._process.stderr.read().decode(errors="replace") if self._process.poll() is not None \
                    and self._process.stderr else ""
                raise RuntimeError(f"Chromium stopped answering (exit {self._process.poll()}): {stderr[-1500:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        result: dict[str, Any] = json.loads(message)
        return result

    def close(self) -> None:
        os.close(self._to_browser)
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._from_browser)


def capture(browser: DevTools, shot: Shot, url: str, out: Path) -> list[str]:
    """Open ``url`` in a fresh tab at the shot's size, scroll to its anchor, screenshot; run its checks."""
    target = browser.call("Target.createTarget", url="about:blank")["targetId"]
    session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    try:
        browser.call("Emulation.setDeviceMetricsOverride", session, width=shot.width, height=shot.height,
                     deviceScaleFactor=1, mobile=shot.width < 600)
        browser.call("Page.navigate", session, url=url)
        browser.wait_until(session, f"location.href === {json.dumps(url)} && document.readyState === 'complete'")
        if shot.ready:
            browser.wait_until(session, shot.ready)
        browser.events.clear()
        if shot.anchor:
            found = browser.call("Runtime.evaluate", session, returnByValue=True,
                                 expression=SCROLL_TO % json.dumps(shot.anchor))
            if not found["result"].get("value"):
                return [f"no element with id {shot.anchor!r}"]
        time.sleep(0.5)
        image = browser.call("Page.captureScreenshot", session, format="png")["data"]
        out.write_bytes(base64.b64decode(image))
        failed = []
        for description, expression in shot.checks:
            value = browser.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
            if value["result"].get("value") is not True:
                failed.append(f"not true: {description}")
        return failed
    finally:
        browser.call("Target.closeTarget", targetId=target)


def ink_fraction(png: Path) -> float:
    """Share of pixels that differ from the most common colour (8-bit RGB/RGBA PNGs, sampled)."""
    data = png.read_bytes()
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if depth != 8 or colour not in (2, 6):
        raise ValueError(f"{png}: unsupported PNG (bit depth {depth}, colour type {colour})")
    channels = 3 if colour == 2 else 4
    idat, position = b"", 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        if data[position + 4 : position + 8] == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    counts: dict[bytes, int] = {}
    for row in range(height):
        start = row * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, channels)
        for x in range(0, stride, channels * 4):
            pixel = bytes(line[x : x + 3])
            counts[pixel] = counts.get(pixel, 0) + 1
        previous = line
    return 1 - max(counts.values()) / sum(counts.values())


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    """Undo one scanline's PNG filter in place (PNG specification, section 9)."""
    if kind == 0:
        return
    if kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, previous))
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            up, up_left = previous[i], previous[i - bpp] if i >= bpp else 0
            estimate = left + up - up_left
            distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
            line[i] = (line[i] + (left, up, up_left)[distances.index(min(distances))]) & 0xFF
        else:
            raise ValueError(f"unknown PNG filter {kind}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("html_dir", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("out_dir", type=Path, help="where to write the screenshots")
    arguments = parser.parse_args(argv)
    chromium = next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)
    if chromium is None:
        print("error: no Chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    html_dir = arguments.html_dir.resolve()
    arguments.out_dir.mkdir(parents=True, exist_ok=True)
    failures = []
    with tempfile.TemporaryDirectory(prefix="browser-check-") as profile:
        browser = DevTools(chromium, profile)
        try:
            for shot in SHOTS:
                page = html_dir / shot.page
                if not page.is_file():
                    failures.append(f"{shot.name}: {page} does not exist (build the book first)")
                    continue
                out = arguments.out_dir / f"{shot.name}.png"
                url = page.as_uri() + (f"?{shot.query}" if shot.query else "")
                problems = capture(browser, shot, url, out)
                ink = ink_fraction(out) if out.is_file() else 0.0
                if ink < MIN_INK_FRACTION:
                    problems.append("the screenshot is blank")
                print(f"{'ok' if not problems else 'FAIL':4} {out} ({shot.width}x{shot.height}, "
                      f"{ink:.1%} of pixels not background)")
                failures += [f"{shot.name}: {problem}" for problem in problems]
        except (RuntimeError, ValueError, OSError) as error:
            failures.append(f"Chromium: {error}")
        finally:
            browser.close()
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
