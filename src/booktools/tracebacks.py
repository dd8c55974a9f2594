"""Tracebacks cut down to what a reader needs: their own frames and where it was raised."""

from __future__ import annotations

import re
import sysconfig
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from booktools.paths import scratch_parent

FRAME = re.compile(r'^  File "(?P<path>[^"]+)", line \d+')
LIBRARY_FRAMES_KEPT = 2
"""Where the error was raised: the last frames, usually the library's own."""

_STDLIB = sysconfig.get_paths()["stdlib"]
_CELL = re.compile(r"/ipykernel_\d+/\d+\.py$")


def short_path(path: str) -> str:
    """A path without the machine: everything up to the package or project folder cut off."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/booktools-sandboxes/" in path:
        return path.split("/booktools-sandboxes/", 1)[1].split("/", 1)[-1]
    if path.startswith(f"{scratch_parent()}/"):
        return path[len(str(scratch_parent())) + 1 :].split("/", 1)[-1]
    if path.startswith(f"{_STDLIB}/"):
        return "python/" + path[len(_STDLIB) + 1 :]
    if _CELL.search(path):
        return "<notebook cell>"
    return path


def _is_readers_frame(path: str) -> bool:
    """A frame in the reader's own code: their cell, env.py or app."""
    return bool(_CELL.search(path)) or path.startswith(f"{scratch_parent()}/")


def trim(lines: Iterable[str]) -> list[str]:
    """Keep each traceback's reader frames and its last frames; shorten every path.

    Hidden runs of frames become one ``[... N library frames ...]`` line, so a
    reader still sees that something was left out.
    """
    output: list[str] = []
    frames: list[tuple[bool, list[str]]] = []

    def flush() -> None:
        keep = {i for i, (readers, _) in enumerate(frames) if readers}
        keep |= set(range(max(0, len(frames) - LIBRARY_FRAMES_KEPT), len(frames)))
        hidden = 0
        for i, (_, block) in enumerate(frames):
            if i in keep:
                if hidden:
                    output.append(f"  [... {hidden} library frame{'s' if hidden > 1 else ''} ...]")
                    hidden = 0
                output.extend(block)
            else:
                hidden += 1
        frames.clear()

    for raw in lines:
        for line in raw.rstrip("\n").split("\n"):
            match = FRAME.match(line)
            if match:
                path = match["path"]
                line = line.replace(f'"{path}"', f'"{short_path(path)}"', 1)
                frames.append((_is_readers_frame(path), [line]))
            elif frames and line.startswith("    "):
                frames[-1][1].append(line)
            else:
                flush()
                output.append(_shorten_paths_in(line))
    flush()
    return output


def _shorten_paths_in(line: str) -> str:
    """Paths in a free-text line (a warning, a message) without the machine part."""
    return re.sub(r"(/[^\s:\"']+)", lambda m: short_path(m.group(1)), line)


def render_exception(exc: BaseException) -> list[str]:
    """``exc`` formatted as Python would, then trimmed."""
    return trim(traceback.TracebackException.from_exception(exc).format())


def install_in_ipython() -> None:
    """Show every error in this notebook with a trimmed traceback.

    The error keeps its class and message (which nbval compares); only the
    frames between the cell and the library's last frames are folded.
    """
    from IPython.core.getipython import get_ipython

    shell: Any = get_ipython()
    if shell is None:
        return

    def show(
        shell: Any,
        etype: type[BaseException],
        value: BaseException,
        tb: TracebackType | None,
        tb_offset: int | None = None,
    ) -> None:
        value.__traceback__ = tb.tb_next if tb is not None else None
        stb = getattr(value, "_render_traceback_", None)
        lines = stb() if callable(stb) else render_exception(value)
        shell._showtraceback(etype, value, lines)

    shell.set_custom_exc((Exception,), show)
    # IPython 9 also formats every error for its history, with the formatter of its current mode;
    # the default one reads and parses the source of every frame (1.4 s of CPU for one
    # MissingGreenlet from SQLAlchemy). Python's own format, for that and for the errors the
    # handler above leaves to IPython (KeyboardInterrupt, SystemExit).
    shell.InteractiveTB.set_mode("Plain")
