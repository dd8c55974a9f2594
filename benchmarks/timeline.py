"""A pytest plugin for the timed suite run: when and where each test ran, for ``suite_parts``.

``python -m benchmarks`` loads it with ``-p benchmarks.timeline`` and names a folder in
``BENCHMARK_TIMELINE``; each process (the controller and every xdist worker) appends one JSON
line per test to a file of its own there: ``[node id, start, end]``, in ``time.time()`` seconds.
Without that variable it does nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMELINE_ENV = "BENCHMARK_TIMELINE"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Setup, call and teardown of one test: the fixture work it triggers counts as its time."""
    started = time.time()
    yield
    folder = os.environ.get(TIMELINE_ENV)
    if folder:
        with Path(folder, f"{os.environ.get('PYTEST_XDIST_WORKER', 'controller')}.jsonl").open("a") as log:
            log.write(json.dumps([item.nodeid, started, time.time()]) + "\n")
