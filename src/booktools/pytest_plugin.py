"""pytest plugin: one embedded PostgreSQL for the whole test run, stopped when it ends.

Loaded from ``conftest.py``. With ``DATABASE_URL`` set it does nothing: the
tests and notebooks use that server. Otherwise the controlling pytest process
starts a server and exports ``BOOKTOOLS_PG_STATE`` so xdist workers and nbval
kernels, which inherit the environment, all use it.
"""

from __future__ import annotations

import contextlib
import os

import pytest

from booktools.postgres import STATE_ENV, embedded_postgres

_run_server: contextlib.ExitStack | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _run_server
    is_xdist_worker = hasattr(config, "workerinput")
    if is_xdist_worker or os.environ.get("DATABASE_URL") or os.environ.get(STATE_ENV):
        return
    _run_server = contextlib.ExitStack()
    instance = _run_server.enter_context(embedded_postgres())
    os.environ[STATE_ENV] = str(instance.directory)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _run_server
    if _run_server is not None:
        _run_server.close()
        _run_server = None
        os.environ.pop(STATE_ENV, None)
