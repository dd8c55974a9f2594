"""Where the time of ``alembic upgrade head`` + ``alembic downgrade base`` goes, per env.py setup.

    python envpy_phases.py SETUPS.json --runs 3

``SETUPS.json`` lists Alembic projects (a folder with ``alembic.ini``, ``migrations/`` and an
``app.py`` reading ``APP_DATABASE_URL``) and how each ``env.py`` connects::

    [{"name": "asyncpg", "folder": "...", "app_url": "postgresql+asyncpg://...",
      "engine": "async", "env_driver": null}, ...]

``engine`` is ``async`` (an AsyncEngine, as the async env.py makes) or ``sync``; ``env_driver``
is the driver env.py swaps into the app's URL (``psycopg2`` for the workaround), or null.

It times, per round (``--runs``):

- one new Python process, started as an ``alembic`` command starts, that imports what every
  setup needs (Alembic, SQLAlchemy and its asyncio extension, which the async app pulls in),
  then each DBAPI driver, and exits. The process stamps the wall clock when its first line runs
  and after its last import; from outside, this script sees when it started it and when it was
  gone. So the process's start (interpreter and ``site`` up to its first line), its imports,
  and its exit (the interpreter's shutdown after those imports, which tears down every module
  they loaded) are timed apart;
- for each setup in turn (interleaved, so a busy machine slows all alike; each round starts
  with the next setup, since a process's first command also pays Alembic's lazy imports):
  one connection and 100 ``SELECT 1`` on it the way env.py runs statements (the async env.py
  through ``run_sync``), then ``upgrade head`` and ``downgrade base`` through ``alembic.command``, as the
  command line calls it, and how much of that was spent inside the driver's ``execute``
  (statement sent, server at work, reply back).

The last line printed is JSON, in seconds.
"""

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import alembic.command
import alembic.config
import sqlalchemy
import sqlalchemy.ext.asyncio
from sqlalchemy import event, pool
from sqlalchemy.engine import Connection, Engine, make_url

STATEMENTS = 100

Setup = dict[str, Any]
"""One entry of SETUPS.json."""

DBAPI_MODULES = {"asyncpg": "asyncpg", "psycopg2": "psycopg2", "psycopg": "psycopg"}
"""The module each driver name in a URL (``postgresql+NAME``) imports."""


def drivers(setup: Setup) -> list[str]:
    """The drivers a process of this setup loads: the app's, and env.py's own if it swaps one in."""
    app_driver = make_url(setup["app_url"]).get_driver_name()
    return sorted({app_driver, setup["env_driver"] or app_driver})


SHARED_MODULES = ("alembic.command", "alembic.config", "sqlalchemy", "sqlalchemy.ext.asyncio")
"""What every setup's ``alembic`` command imports, whatever its driver."""

PROBE = """\
import time
first_line = time.time()
import importlib, json, sys
imports = {}
for group in sys.argv[1:]:
    before = time.perf_counter()
    for module in group.split(","):
        importlib.import_module(module)
    imports[group] = time.perf_counter() - before
print(json.dumps({"first_line": first_line, "imports": imports, "last_line": time.time()}))
"""
"""A new process that imports each comma-separated group of modules in turn, timing each."""


def process_phases(drivers: list[str]) -> dict[str, Any]:
    """Start, imports (shared, then each driver's) and exit of one new Python process."""
    groups = [",".join(SHARED_MODULES), *(DBAPI_MODULES[name] for name in drivers)]
    launched = time.time()
    output = subprocess.run([sys.executable, "-c", PROBE, *groups], capture_output=True, text=True, check=True).stdout
    gone = time.time()
    stamps = json.loads(output)
    imports = stamps["imports"]
    return {
        "start": stamps["first_line"] - launched,
        "shared_imports": imports.pop(groups[0]),
        "driver_imports": {name: imports[DBAPI_MODULES[name]] for name in drivers},
        "exit": gone - stamps["last_line"],
    }


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
processes: list[dict[str, Any]] = []
results: dict[str, dict[str, list[float]]] = {
    setup["name"]: {"connect": [], "per_statement": [], "upgrade": [], "downgrade": [], "in_execute": []}
    for setup in setups
}
for round_number in range(arguments.runs):
    processes.append(process_phases(needed))
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
    "processes": processes,
    "drivers": {setup["name"]: drivers(setup) for setup in setups},
    "setups": results,
}))
