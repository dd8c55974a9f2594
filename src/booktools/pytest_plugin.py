"""pytest plugin: one embedded PostgreSQL, one scratch folder and one fork server for the whole test run.

Loaded from ``conftest.py``. The controlling pytest process sets them up and exports
them (``BOOKTOOLS_PG_STATE``, ``BOOKTOOLS_SCRATCH``, ``BOOKTOOLS_FORKSERVER_SHARED``), so
xdist workers and nbval kernels, which inherit the environment, share them; all are gone
when pytest ends. With ``DATABASE_URL`` set no server is started: tests and notebooks use
that one. The fork server (``booktools.forkserver``) saves each worker and kernel starting
and importing one of its own.

While nbval runs a chapter, each exercise's check also runs with wrong answers first, in the
chapter's kernel (``booktools.exercise_attempts``): an item of its own before the solution.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

import pytest

from booktools import exercise_attempts, forkserver
from booktools.paths import SCRATCH_ENV
from booktools.postgres import STATE_ENV, embedded_postgres
from booktools.project import command_environ

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
    if forkserver.SHARED_ENV not in os.environ:
        _run.enter_context(forkserver.shared(command_environ(os.environ)))


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        _run.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items[:] = exercise_attempts.with_wrong_answers(items)
