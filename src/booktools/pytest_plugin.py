"""pytest plugin: one embedded PostgreSQL and one scratch folder for the whole test run.

Loaded from ``conftest.py``. The controlling pytest process sets both up and exports
them (``BOOKTOOLS_PG_STATE``, ``BOOKTOOLS_SCRATCH``), so xdist workers and nbval
kernels, which inherit the environment, share them; both are gone when pytest ends.
With ``DATABASE_URL`` set no server is started: tests and notebooks use that one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import pytest

from booktools.paths import SCRATCH_ENV
from booktools.postgres import STATE_ENV, embedded_postgres

_run = contextlib.ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    if SCRATCH_ENV not in os.environ:
        # nbval kills kernels, so their own atexit clean-up never runs: clean up here.
        scratch = tempfile.mkdtemp(prefix="booktools-scratch-run-")
        _run.callback(shutil.rmtree, scratch, ignore_errors=True)
        _run.callback(os.environ.pop, SCRATCH_ENV, None)
        os.environ[SCRATCH_ENV] = scratch
    if not os.environ.get("DATABASE_URL") and not os.environ.get(STATE_ENV):
        instance = _run.enter_context(embedded_postgres())
        _run.callback(os.environ.pop, STATE_ENV, None)
        os.environ[STATE_ENV] = str(instance.directory)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        _run.close()
