"""What a chapter imports: ``from booktools import notebook as book`` in its first cell.

Every chapter starts with the same generated cell (``preamble``); its second cell says
which database and project it wants::

    database, project = book.start_chapter("01-reproduce-missinggreenlet")
    book.show_versions(database)

and later cells reach the helpers as ``book.diff(...)``, ``book.sandboxes.python(...)``,
``book.Driver.PSYCOPG``: the ``book.`` prefix marks what is the book's plumbing rather
than SQLAlchemy's or Alembic's API.
"""

from __future__ import annotations

import contextlib
import os
from importlib.metadata import version

from booktools import forkserver, sandboxes
from booktools.envpatch import patch_online, verify
from booktools.exercises import check, check_env_py, check_value, file_link
from booktools.lazyloads import print_call_chain, show_lazy_loads, statements_run
from booktools.postgres import DEMO_ROLE, SPECIAL_ROLE, Database, Driver, Role, get_server
from booktools.project import ScratchProject, command_environ, diff, env_example, repository_root
from booktools.tracebacks import install_in_ipython, render_exception

__all__ = [
    "DEMO_ROLE",
    "SPECIAL_ROLE",
    "Database",
    "Driver",
    "Role",
    "ScratchProject",
    "check",
    "check_env_py",
    "check_value",
    "diff",
    "env_example",
    "file_link",
    "get_server",
    "patch_online",
    "print_call_chain",
    "print_exception",
    "repository_root",
    "sandboxes",
    "show_lazy_loads",
    "show_versions",
    "start_chapter",
    "start_chapter_without_postgres",
    "statements_run",
    "verify",
]


def start_chapter(
    name: str, *, app: str | None = "users", driver: Driver = Driver.ASYNCPG, owner: Role = DEMO_ROLE
) -> tuple[Database, ScratchProject]:
    """Trimmed tracebacks, a fresh database called ``book_<name>``, and a scratch project.

    ``name`` is the notebook's file name without ``.ipynb`` (a test checks it). The
    project holds the sample ``app`` (None: no app), which connects with ``driver``
    as ``owner``.
    """
    install_in_ipython()
    # The chapter's first command then finds its fork server ready, its imports done
    # while the database is made (0.3-0.4 s of every chapter).
    forkserver.warm_up(command_environ(os.environ))
    database = get_server().fresh_database(name, owner=owner)
    return database, start_chapter_without_postgres(name, app_database_url=database.url(driver), app=app)


def start_chapter_without_postgres(name: str, *, app_database_url: str, app: str | None = "users") -> ScratchProject:
    """Trimmed tracebacks and the chapter's scratch project, whose app connects to ``app_database_url``.

    Where the learner works (``bash run.sh workshop``), the project is ``scratch/<name>``, and
    the files a cell gives the learner (``file_link``) are kept across runs (``booktools.learner``).
    """
    install_in_ipython()
    project = ScratchProject.for_chapter(name, app_database_url=app_database_url)
    if app is not None:
        project.add_app(app)
    return project


SHOWN_PACKAGES = ("sqlalchemy", "alembic", "asyncpg", "greenlet", "psycopg2-binary", "psycopg")


def show_versions(database: Database | None = None, *, packages: tuple[str, ...] = SHOWN_PACKAGES) -> None:
    """Print the releases this chapter ran on, and the server's major version if it has one.

    The major version is the reader's own (``DATABASE_URL``) or the embedded one; it is
    the one part of this line ``sanitize.cfg`` lets vary.
    """
    shown = ", ".join(f"{name} {version(name)}" for name in packages)
    if database is None:
        print(f"Ran on: {shown}")
        return
    with contextlib.closing(database.server.connect_admin()) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        row = cursor.fetchone()
    major = int(row[0]) // 10000 if row else "?"
    print(f"Ran on: {shown}; PostgreSQL {major}")


def print_exception(error: BaseException) -> None:
    """Print a caught exception's traceback, trimmed as the notebook shows uncaught ones."""
    print("\n".join(render_exception(error)))
