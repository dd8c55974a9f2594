"""The fix for an existing project: a patch to its own ``env.py``, and the round trip that checks it.

``patch_online`` turns the online part of an ``env.py`` shaped like Alembic's ``generic``
template (``engine_from_config`` and ``with connectable.connect() as connection:``, or
``.begin()``) into the async one, and leaves every other line alone: the project's
``context.configure(...)`` options, its metadata, its offline mode, and the block's
transaction handling (``begin()`` stays ``begin()``: an ``env.py`` that calls
``context.run_migrations()`` without ``context.begin_transaction()`` relies on it to commit).
Chapters 20 and 25 show what it changes as a diff.
``verify`` runs the round trip a patched project must pass, in one process.
"""

from __future__ import annotations

import json

from booktools.errors import BookToolsError
from booktools.project import ScratchProject

_ASYNC_IMPORTS = (
    "from sqlalchemy import pool\nfrom sqlalchemy.engine import Connection\n"
    "from sqlalchemy.ext.asyncio import async_engine_from_config\n"
)
_SYNC_IMPORTS = (
    # The generic template's two lines, and the one line many projects write instead.
    "from sqlalchemy import engine_from_config\nfrom sqlalchemy import pool\n",
    "from sqlalchemy import engine_from_config, pool\n",
)
_EDITS = (
    ("from logging.config import fileConfig\n", "import asyncio\nfrom logging.config import fileConfig\n"),
    ("    connectable = engine_from_config(\n", "    connectable = async_engine_from_config(\n"),
)

# connect(): Alembic's begin_transaction() commits. begin(): the block commits, and the env.py
# may rely on it (no begin_transaction()); the async block must open the same one.
_CONNECTS = {
    "connect": "    with connectable.connect() as connection:\n",
    "begin": "    with connectable.begin() as connection:\n",
}
_DO_RUN = "    def do_run_migrations(connection: Connection) -> None:\n"
_ASYNC_PART = '''
    async def run_async_migrations() -> None:
        # run_sync() runs Alembic's synchronous code where asyncpg can be awaited.
        try:
            async with connectable.{method}() as connection:
                await connection.run_sync(do_run_migrations)
        finally:
            await connectable.dispose()

    asyncio.run(run_async_migrations())
'''


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise BookToolsError(
            f"patch_online expects {old.strip()!r} exactly once in env.py (Alembic's generic template "
            f"shape), found it {text.count(old)} times; patch this env.py by hand."
        )
    return text.replace(old, new)


def patch_online(env_py: str) -> str:
    """``env_py`` with its online connection made async; every other line kept as it is.

    The ``with connectable.connect() as connection:`` block (or ``.begin()``) becomes a nested
    ``do_run_migrations(connection)``, its body unchanged (``context.configure`` with all
    its options included), run by ``connection.run_sync`` on an async engine inside
    ``async with connectable.connect()`` (or ``.begin()``, as the block had it).
    """
    for old, new in _EDITS:
        env_py = _replace_once(env_py, old, new)
    sync_imports = next((imports for imports in _SYNC_IMPORTS if imports in env_py), _SYNC_IMPORTS[0])
    env_py = _replace_once(env_py, sync_imports, _ASYNC_IMPORTS)
    method = next((name for name, line in _CONNECTS.items() if line in env_py), "connect")
    env_py = _replace_once(env_py, _CONNECTS[method], _DO_RUN)
    lines = env_py.splitlines(keepends=True)
    start = lines.index(_DO_RUN) + 1
    end = start
    # The block's body: indented deeper than the function, or blank.
    while end < len(lines) and (lines[end].startswith(" " * 8) or not lines[end].strip()):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    return "".join([*lines[:end], _ASYNC_PART.format(method=method), *lines[end:]])


_VERIFY = """
import json, sys
from alembic.config import main

for argv in json.loads(sys.argv[1]):
    try:
        main(argv=argv, prog="alembic")
        status = 0
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    except Exception as error:
        print(f"{type(error).__name__}: {error}")
        status = 1
    print(f"@@ {'ok' if status == 0 else 'FAILED'}: alembic {' '.join(argv)}")
    if status:
        break
"""


def verify(project: ScratchProject, *options: str, autogenerate: bool = True) -> None:
    """Upgrade, [autogenerate, upgrade,] downgrade, upgrade, check: one process, one line per command.

    A failing command stops the run; its line is followed by the last line it printed.
    ``options`` go before each command (``-c sub/alembic.ini``).
    """
    steps = [
        [*options, "upgrade", "head"],
        *([[*options, "revision", "--autogenerate", "-m", "verify", "--rev-id", "9999"],
           [*options, "upgrade", "head"]] if autogenerate else []),
        [*options, "downgrade", "-1"],
        [*options, "upgrade", "head"],
        [*options, "check"],
    ]
    result = project.run("python", "-c", _VERIFY, json.dumps(steps), check=False, echo=False)
    lines = result.output.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("@@ "):
            print(line[3:])
            if "FAILED" in line:
                print("   ", lines[number - 1])
