"""Hidden lazy loads, made visible: where each one ran, and a test-only guard that fails on each.

``raise_on_unplanned_loads`` is the listener a test suite registers for ``do_orm_execute``
(on ``Session``, or on one session): it adds ``raiseload("*")`` to every top-level ORM
``SELECT``, leaving alone the loads SQLAlchemy makes on an object's behalf (an expired
attribute's reload, a relationship loader's own query), which carry their query's options
already; chapters show its source. ``show_lazy_loads`` prints, at each lazy
load, the chain of calls that led to it, across SQLAlchemy's greenlet boundary, and
``print_call_chain`` prints an error's traceback the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, raiseload

from booktools.tracebacks import _is_readers_frame as is_readers_path
from booktools.tracebacks import short_path

BOUNDARY = "greenlet_spawn"
"""SQLAlchemy's function that runs synchronous code in a greenlet, where ``await_()`` may wait."""

SHOWN_LIBRARY_FUNCTIONS = frozenset({"run_sync", BOUNDARY, "model_validate"})


def raise_on_unplanned_loads(execute_state: ORMExecuteState) -> None:
    """Every ORM SELECT the session runs may load no relationship it did not ask for."""
    if execute_state.is_select and not execute_state.is_column_load and not execute_state.is_relationship_load:
        execute_state.statement = execute_state.statement.options(raiseload("*"))


def _frames_of(frame: FrameType | None) -> list[tuple[FrameType, int]]:
    """The frames from the outermost caller down to ``frame``, each with its current line."""
    chain = []
    while frame is not None:
        chain.append((frame, frame.f_lineno))
        frame = frame.f_back
    return chain[::-1]


def _frames_of_traceback(tb: TracebackType | None) -> list[tuple[FrameType, int]]:
    chain = []
    while tb is not None:
        chain.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return chain


def _current_chain() -> list[tuple[FrameType, int]]:
    """This call's frames, those of the coroutine that spawned its greenlet first."""
    import greenlet  # type: ignore[import-untyped]

    current: Any = greenlet.getcurrent()
    parent = current.parent
    chain = _frames_of(sys._getframe(2))
    if parent is not None and type(current).__name__ == "_AsyncIoGreenlet":
        chain = _frames_of(parent.gr_frame) + chain
    return chain


def format_chain(chain: list[tuple[FrameType, int]]) -> list[str]:
    """One line per frame from the first of the reader's own, library frames folded.

    Kept: the reader's frames, and SQLAlchemy's ``run_sync``/``greenlet_spawn`` and
    pydantic's ``model_validate`` (without line numbers: only which function matters);
    after ``greenlet_spawn`` each line is marked as running inside the greenlet.
    """
    readers = [i for i, (frame, _) in enumerate(chain) if is_readers_path(frame.f_code.co_filename)]
    if not readers:
        return []
    lines: list[str] = []
    hidden = 0
    inside = False
    for frame, line in chain[readers[0] :]:
        path, name = frame.f_code.co_filename, frame.f_code.co_name
        if not (is_readers_path(path) or name in SHOWN_LIBRARY_FUNCTIONS):
            hidden += 1
            continue
        if hidden:
            lines.append(f"{'│ ' if inside else ''}  [... {hidden} library frame{'s' if hidden > 1 else ''} ...]")
            hidden = 0
        where = f"line {line}, " if is_readers_path(path) else ""
        lines.append(f"{'│ ' if inside else ''}{short_path(path)}, {where}in {name}")
        if name == BOUNDARY:
            inside = True
            lines.append("┌ inside the greenlet: here await_() can wait, a lazy load can do its IO")
    return lines


def print_call_chain(error: BaseException) -> None:
    """An error's traceback, one line per frame, with the greenlet boundary marked."""
    print(f"{type(error).__name__} raised through:")
    print("\n".join(format_chain(_frames_of_traceback(error.__traceback__))))


@contextmanager
def show_lazy_loads(target: Any = Session) -> Iterator[None]:
    """Print each lazy load's attribute while the block runs, and each new call chain once."""
    seen: list[list[str]] = []

    def print_lazy_load(state: ORMExecuteState) -> None:
        if state.lazy_loaded_from is None or state.loader_strategy_path is None:
            return
        chain = format_chain(_current_chain())
        loaded = f"lazy load of {state.loader_strategy_path[-1]}, for {state.lazy_loaded_from.object!r}"
        if chain in seen:
            print(f"{loaded}, through the same calls")
            return
        seen.append(chain)
        print(f"{loaded}, called through:")
        print("\n".join(chain))

    event.listen(target, "do_orm_execute", print_lazy_load)
    try:
        yield
    finally:
        event.remove(target, "do_orm_execute", print_lazy_load)


@contextmanager
def statements_run(engine: Any) -> Iterator[list[str]]:
    """The SQL of each statement ``engine`` (an ``AsyncEngine`` or ``Engine``) sends while the block runs."""
    sync_engine = getattr(engine, "sync_engine", engine)
    sent: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)


__all__ = ["print_call_chain", "raise_on_unplanned_loads", "show_lazy_loads", "statements_run"]
