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
    return database, start_chapter_without_postgres(name, app_database_url=database.url(driver), app=app)


def start_chapter_without_postgres(name: str, *, app_database_url: str, app: str | None = "users") -> ScratchProject:
    """Trimmed tracebacks and a scratch project whose app connects to ``app_database_url``."""
    install_in_ipython()
    project = ScratchProject.create(name, app_database_url=app_database_url)
    if app is not None:
        project.add_app(app)
    return project


SHOWN_PACKAGES = ("sqlalchemy", "alembic", "asyncpg", "greenlet", "psycopg2-binary", "psycopg")


def show_versions(database: Database | None = None, *, packages: tuple[str, ...] = SHOWN_PACKAGES) -> None:
    """Print the releases this chapter ran on, and the server's major version if it has one."""
    import contextlib
    from importlib.metadata import version

    shown = ", ".join(f"{name} {version(name)}" for name in packages)
    if database is None:
        print(f"Ran on: {shown}")
        return
    with contextlib.closing(database.server.connect_admin()) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        row = cursor.fetchone()
    major = int(row[0]) // 10000 if row else "?"
    print(f"Ran on: {shown}; PostgreSQL {major}")
