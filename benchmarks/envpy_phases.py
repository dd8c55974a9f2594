"""Where the time of ``alembic upgrade head`` + ``alembic downgrade base`` goes, per env.py setup.

    python envpy_phases.py SETUPS.json --runs 3

``SETUPS.json`` lists Alembic projects (a folder with ``alembic.ini``, ``migrations/`` and an
``app.py`` reading ``APP_DATABASE_URL``) and how each ``env.py`` connects::

    [{"name": "asyncpg", "folder": "...", "app_url": "postgresql+asyncpg://...",
      "engine": "async", "env_driver": null}, ...]

``engine`` is ``async`` (an AsyncEngine, as the async env.py makes) or ``sync``; ``env_driver``
is the driver env.py swaps into the app's URL (``psycopg2`` for the workaround), or null.

In this one process it times:

- the imports every setup needs (Alembic, SQLAlchemy and its asyncio extension, which the
  async app pulls in), then each DBAPI driver's own import;
- per round, for each setup in turn (interleaved, so a busy machine slows all alike; each round
  starts with the next setup, since a process's first command also pays Alembic's lazy imports):
  one connection and 100 ``SELECT 1`` on it the way env.py runs statements (the async env.py
  through ``run_sync``), then ``upgrade head`` and ``downgrade base`` through ``alembic.command``, as the
  command line calls it, and how much of that was spent inside the driver's ``execute``
  (statement sent, server at work, reply back).

The last line printed is JSON, in seconds. Process start-up cannot be timed from inside:
the caller subtracts ``inside`` from the wall time it saw.
"""

import time

started = time.perf_counter()

import importlib  # noqa: E402  (the imports below are what this script times)
import sys  # noqa: E402

import alembic.command  # noqa: E402
import alembic.config  # noqa: E402
import sqlalchemy  # noqa: E402
import sqlalchemy.ext.asyncio  # noqa: E402

shared_imports = time.perf_counter() - started

import argparse  # noqa: E402  (the rest is this script's own machinery)
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import event, pool  # noqa: E402
from sqlalchemy.engine import Connection, Engine, make_url  # noqa: E402

STATEMENTS = 100

Setup = dict[str, Any]
"""One entry of SETUPS.json."""

DBAPI_MODULES = {"asyncpg": "asyncpg", "psycopg2": "psycopg2", "psycopg": "psycopg"}
"""The module each driver name in a URL (``postgresql+NAME``) imports."""


def drivers(setup: Setup) -> list[str]:
    """The drivers a process of this setup loads: the app's, and env.py's own if it swaps one in."""
    app_driver = make_url(setup["app_url"]).get_driver_name()
    return sorted({app_driver, setup["env_driver"] or app_driver})


def import_seconds(module: str) -> float:
    before = time.perf_counter()
    importlib.import_module(module)
    return time.perf_counter() - before


in_execute = 0.0


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn: Connection, *args: Any) -> None:
    conn.info["execute_started"] = time.perf_counter()


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn: Connection, *args: Any) -> None:
    global in_execute
    in_execute += time.perf_counter() - conn.info.pop("execute_started")


def activate(setup: Setup) -> None:
    """Make this setup's project current, as running ``alembic`` in its folder would."""
    os.chdir(setup["folder"])
    os.environ["APP_DATABASE_URL"] = setup["app_url"]
    sys.modules.pop("app", None)
    sys.path[:] = [setup["folder"], *(p for p in sys.path if p not in folders)]


def env_url(setup: Setup) -> sqlalchemy.URL:
    url = make_url(setup["app_url"])
    return url.set(drivername=f"postgresql+{setup['env_driver']}") if setup["env_driver"] else url


def select_ones(connection: sqlalchemy.Connection) -> float:
    """Seconds per ``SELECT 1``: a statement that costs the server nothing, so the driver's and
    env.py's own cost per statement shows."""
    before = time.perf_counter()
    for _ in range(STATEMENTS):
        connection.execute(sqlalchemy.text("SELECT 1"))
    return (time.perf_counter() - before) / STATEMENTS


def connect_and_statement_seconds(setup: Setup) -> tuple[float, float]:
    """One connection as env.py opens it, then statements as env.py runs them (async: run_sync)."""
    before = time.perf_counter()
    if setup["engine"] == "async":
        engine = sqlalchemy.ext.asyncio.create_async_engine(env_url(setup), poolclass=pool.NullPool)

        async def connect() -> tuple[float, float]:
            async with engine.connect() as connection:
                connected = time.perf_counter() - before
                return connected, await connection.run_sync(select_ones)

        return asyncio.run(connect())
    with sqlalchemy.create_engine(env_url(setup), poolclass=pool.NullPool).connect() as connection:
        return time.perf_counter() - before, select_ones(connection)


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("setups", type=Path)
parser.add_argument("--runs", type=int, default=3)
arguments = parser.parse_args()
setups = json.loads(arguments.setups.read_text())
folders = {setup["folder"] for setup in setups}

needed = sorted({name for setup in setups for name in drivers(setup)})
driver_imports = {name: import_seconds(DBAPI_MODULES[name]) for name in needed}
results: dict[str, dict[str, list[float]]] = {
    setup["name"]: {"connect": [], "per_statement": [], "upgrade": [], "downgrade": [], "in_execute": []}
    for setup in setups
}
for round_number in range(arguments.runs):
    # Each round starts with another setup: the first command of a process pays Alembic's lazy imports.
    for setup in setups[round_number % len(setups):] + setups[:round_number % len(setups)]:
        activate(setup)
        result = results[setup["name"]]
        connect, per_statement = connect_and_statement_seconds(setup)
        result["connect"].append(connect)
        result["per_statement"].append(per_statement)
        config = alembic.config.Config("alembic.ini")
        in_execute = 0.0
        # env.py's fileConfig logs each migration to stderr: discarded, so that the JSON is the output.
        with open(os.devnull, "w") as nowhere, contextlib.redirect_stderr(nowhere):
            before = time.perf_counter()
            alembic.command.upgrade(config, "head")
            middle = time.perf_counter()
            alembic.command.downgrade(config, "base")
        result["upgrade"].append(middle - before)
        result["downgrade"].append(time.perf_counter() - middle)
        result["in_execute"].append(in_execute)

print(json.dumps({
    "shared_imports": shared_imports,
    "driver_imports": driver_imports,
    "drivers": {setup["name"]: drivers(setup) for setup in setups},
    "setups": results,
    "inside": time.perf_counter() - started,
}))
