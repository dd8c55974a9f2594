"""Exercise checks: a pass says so, a miss raises ``AssertionError`` with a hint, never the answer.

A check cell ends with ``book.check(...)`` or ``book.check_env_py(project)``. In the
learner edition (``bash run.sh workshop``) these are the cells that fail until the
learner has done the exercise; their message says where to look, not what to write.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import shutil
from pathlib import Path

from IPython.display import Markdown

from booktools.errors import BookToolsError
from booktools.postgres import SPECIAL_ROLE, Database, Driver, get_server
from booktools.project import ScratchProject

PASSED = "✔ Right."


def check(passed: bool, *, hint: str, success: str = PASSED) -> None:
    """Print ``success``, or raise ``AssertionError(hint)``; ``hint`` must not hold the answer.

    The notebook shows the error as its one line, without the frames of this helper:
    the learner's next step is in the hint, not in a traceback.
    """
    if not passed:
        error = AssertionError(hint)
        setattr(error, "_render_traceback_", lambda: [f"AssertionError: {hint}"])  # noqa: B010 (IPython reads it)
        raise error
    print(success)


def not_a_value_hint(name: str, value: object) -> str | None:
    """A hint when ``value`` is still the exercise's placeholder, or an un-awaited coroutine."""
    if value is None or value is Ellipsis:
        return f"Not yet: `{name}` is still {value!r}. Write your answer into the exercise cell, run it, then this one."
    if inspect.isawaitable(value):
        return (
            f"`{name}` holds {type(value).__name__} object, not its result: "
            "something async was called without `await` in front of it."
        )
    return None


def check_value(name: str, value: object, passed: bool, *, hint: str, success: str = PASSED) -> None:
    """``check``, with a more precise hint first when ``value`` is unanswered or a coroutine."""
    check(passed, hint=not_a_value_hint(name, value) or hint, success=success)


def file_link(project: ScratchProject, relative: str) -> Markdown:
    """A link that opens a scratch project's file in JupyterLab, or where to find it.

    Inside JupyterLab's folder (``bash run.sh workshop`` puts scratch projects
    there) the link is relative to the notebook, so clicking it opens the file in
    a JupyterLab editor tab. Elsewhere the text names the file, not this machine's
    temporary folder.

    Where the learner works, the file becomes theirs (``booktools.learner``): the
    version they edited in an earlier run replaces the one the chapter just
    generated (a line says so), and the project's later cells wait for the check.
    """
    note = project.learner.hand_out(relative) if project.learner is not None else None
    target = project.path(relative)
    try:
        link = os.path.relpath(target.resolve(), Path.cwd().resolve())
    except ValueError:
        link = ""
    if link and not link.startswith(".."):
        opening = f"Open [`{relative}`]({link}) (a JupyterLab editor tab), edit it, save it (*Ctrl+S*)."
        return Markdown(f"{opening}\n\n{note}" if note else opening)
    return Markdown(
        f"`{relative}` is in this chapter's scratch project, outside JupyterLab's folder here; "
        "`bash run.sh workshop` puts it where JupyterLab's file browser shows it."
    )


# What a failed command's error line says, and where the learner should look then.
ENV_PY_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Can't load plugin: sqlalchemy\.dialects:driver"),
     "Alembic connected with the placeholder URL of the generated alembic.ini "
     "(driver://user:pass@localhost/dbname): env.py should connect the way the application does."),
    (re.compile(r"NameError|ImportError|ModuleNotFoundError"),
     "env.py uses a name it never imported: where do the application's engine and models live?"),
    (re.compile(r"password authentication failed|InvalidPasswordError"),
     "The server refused the password: was the URL rendered with its password hidden (`***`)?"),
    (re.compile(r"invalid interpolation syntax"),
     "ConfigParser read a `%` in the URL as interpolation (the check's database has a password with `%` "
     "in it): a URL given to set_main_option() needs each `%` doubled; an engine needs no URL in alembic.ini."),
    (re.compile(r"MissingGreenlet"),
     "A synchronous engine met the async driver: connect with an AsyncEngine, through the template's run_sync."),
    (re.compile(r"KeyError: 'url'"),
     "env.py looked for sqlalchemy.url in alembic.ini, which has none: env.py should connect the way "
     "the application does."),
    (re.compile(r"does not provide a MetaData object|New upgrade operations detected"),
     "Autogenerate does not see the application's tables: which variable in env.py tells Alembic "
     "about the models?"),
)

ERROR_LINE = re.compile(r"^(FAILED: |[\w.]*(Error|Exception|Greenlet|Failed)\b)")


def error_line(output: str) -> str:
    """The line of a command's output that names its error (the last one that does)."""
    lines = [line for line in output.splitlines() if line.strip()]
    return next((line for line in reversed(lines) if ERROR_LINE.match(line)), lines[-1] if lines else "")


def check_env_py(project: ScratchProject, *, driver: Driver = Driver.ASYNCPG) -> None:
    """Run the learner's ``env.py``: autogenerate, ``alembic upgrade head``, ``alembic check``.

    They run on a copy of the project (the same ``app.py``, ``alembic.ini`` and
    ``migrations/``, no revisions) against a fresh database of its own (one per
    chapter, made again each time), so the check can be re-run after every edit and
    leaves the chapter's project and database as they were; the copy is removed
    when the check ends. A failure raises ``AssertionError`` naming the command, its
    error line and a hint. A pass lets the project's later cells use the learner's
    files (``booktools.learner``).

    The copy's application engine carries what its URL does not: a ``search_path`` to a
    schema of its own (``APP_SCHEMA``), as an application's ``connect_args`` would. Only an
    ``env.py`` that migrates with that engine creates the tables there; one that builds a
    second engine from the URL, even with the password intact, creates them elsewhere.
    """
    name = f"{project.name}-check"
    # Owned by the role whose password needs URL-encoding (``p@ss%w:rd/#1``): an env.py
    # that only works for the book's plain password, e.g. one that passes the URL through
    # ConfigParser unescaped, fails here as it would on many a real server (chapter 9).
    database = get_server().fresh_database(name, owner=SPECIAL_ROLE)
    with contextlib.closing(database.server.connect_admin(database.name)) as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA {APP_SCHEMA} AUTHORIZATION "{database.owner.name}"')
    trial = ScratchProject.create(name, app_database_url=database.url(driver))
    try:
        _run_env_py_check(project, trial, database)
    finally:
        shutil.rmtree(trial.root, ignore_errors=True)
    if project.learner is not None:
        project.learner.passed()
    print("✔ Right: your env.py migrates the application and alembic check finds nothing left to do.")


APP_SCHEMA = "app_schema"
"""Where the check's application engine (and only it) puts the tables: its ``search_path``."""
APP_ENGINE = 'create_async_engine(os.environ["APP_DATABASE_URL"])'
APP_ENGINE_WITH_SETTING = (
    f'create_async_engine(os.environ["APP_DATABASE_URL"], '
    f'connect_args={{"server_settings": {{"search_path": "{APP_SCHEMA}"}}}})'
)


def _run_env_py_check(project: ScratchProject, trial: ScratchProject, database: Database) -> None:
    app = project.read("app.py")
    if APP_ENGINE not in app:
        raise BookToolsError(f"check_env_py expects the book's app.py, whose engine is {APP_ENGINE}.")
    trial.write("app.py", app.replace(APP_ENGINE, APP_ENGINE_WITH_SETTING))
    shutil.copy(project.path("alembic.ini"), trial.path("alembic.ini"))
    shutil.copytree(project.path("migrations"), trial.path("migrations"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
    for revision in trial.path("migrations/versions").glob("*.py"):
        revision.unlink()
    commands = (
        ("revision", "--autogenerate", "-m", "create users", "--rev-id", "0001"),
        ("upgrade", "head"),
        ("check",),
    )
    for arguments in commands:
        result = trial.alembic(*arguments, check=False, echo=False)
        if result.returncode != 0:
            error = error_line(result.output)
            hint = next(
                (text for where in (error, result.output) for pattern, text in ENV_PY_HINTS if pattern.search(where)),
                "Read the error line, then env.py from the line it names.",
            )
            raise AssertionError(f"`alembic {arguments[0]}` failed with your env.py: {error}\n→ {hint}")
        print(f"✔ alembic {' '.join(arguments)}")
        if arguments[0] == "upgrade":
            _require_the_apps_engine(database)


def _require_the_apps_engine(database: Database) -> None:
    with contextlib.closing(database.server.connect_admin(database.name)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'users'")
        schemas = sorted(row[0] for row in cursor.fetchall())
    if schemas != [APP_SCHEMA]:
        raise AssertionError(
            f"`alembic upgrade` put `users` in {', '.join(schemas) or 'no schema'}, not in {APP_SCHEMA}, "
            "where the application's engine puts its tables: the check gave that engine a connection setting "
            "(a search_path) that its URL does not carry, and your env.py migrated without it.\n"
            "→ A second engine built from the application's URL loses its connect_args, server_settings and "
            "creator: which engine should env.py connect with?"
        )
