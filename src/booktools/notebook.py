"""The first cell of every chapter: one call that sets up what the chapter needs."""

from __future__ import annotations

from booktools.postgres import DEMO_ROLE, Database, Driver, Role, get_server
from booktools.project import ScratchProject
from booktools.tracebacks import install_in_ipython


def start_chapter(
    name: str, *, app: str | None = "users", driver: Driver = Driver.ASYNCPG, owner: Role = DEMO_ROLE
) -> tuple[Database, ScratchProject]:
    """Trimmed tracebacks, a fresh database called ``book_<name>``, and a scratch project.

    The project holds the sample ``app`` (None: no app), which connects with
    ``driver`` as ``owner``.
    """
    install_in_ipython()
    database = get_server().fresh_database(name, owner=owner)
    project = ScratchProject.create(name, app_database_url=database.url(driver))
    if app is not None:
        project.add_app(app)
    return database, project


SHOWN_PACKAGES = ("sqlalchemy", "alembic", "asyncpg", "greenlet", "psycopg2-binary", "psycopg")


def show_versions(database: Database) -> None:
    """Print the releases this chapter ran on, and the server's major version."""
    import contextlib
    from importlib.metadata import version

    with contextlib.closing(database.server.connect_admin()) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        row = cursor.fetchone()
    major = int(row[0]) // 10000 if row else "?"
    shown = [f"{name} {version(name)}" for name in SHOWN_PACKAGES]
    print("Ran on: " + ", ".join(shown) + f"; PostgreSQL {major}")
