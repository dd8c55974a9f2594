"""What a notebook or test holds to reach PostgreSQL: a ``Server``, its ``Database``s, ``Role``s and ``Driver``s.

Whichever server it is (``DATABASE_URL``'s or an embedded one, see ``booktools.postgres``),
these handles work the same way.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from booktools.errors import BookToolsError

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

CONNECT_TIMEOUT_S = 5
DATABASE_PREFIX = "book_"


class Driver(StrEnum):
    """The DBAPI drivers this book uses, as they appear after ``postgresql+``."""

    ASYNCPG = "asyncpg"
    PSYCOPG2 = "psycopg2"
    PSYCOPG = "psycopg"


@dataclass(frozen=True)
class Role:
    """A login role the notebooks show in URLs; its password is a throwaway."""

    name: str
    password: str = field(repr=False)


DEMO_ROLE = Role("alembic_demo", "tutorial-password")
"""Owns each notebook's database; safe to print, it guards nothing real."""

SPECIAL_ROLE = Role("alembic_special", "p@ss%w:rd/#1")
"""A password holding every character that needs URL-encoding in this book."""


@dataclass(frozen=True)
class Server:
    """Where PostgreSQL listens, and the admin credentials to manage it."""

    host: str
    port: int
    admin_user: str
    admin_password: str = field(repr=False)
    admin_database: str
    embedded: bool

    def connect_admin(self, database: str | None = None) -> PgConnection:
        """An autocommit psycopg2 connection as the admin role."""
        import psycopg2

        try:
            connection = psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.admin_user,
                password=self.admin_password,
                dbname=database or self.admin_database,
                connect_timeout=CONNECT_TIMEOUT_S,
            )
        except psycopg2.OperationalError as error:
            hint = (
                "Is the embedded server still running? `python -m booktools status` tells; "
                "restart the notebook's kernel to start it again."
                if self.embedded
                else "Check DATABASE_URL, or unset it to use the embedded server."
            )
            raise BookToolsError(
                f"Could not connect to PostgreSQL at {self.host}:{self.port} as "
                f"{self.admin_user!r}: {str(error).strip()}. {hint}"
            ) from error
        connection.autocommit = True
        return connection

    def ensure_role(self, role: Role) -> None:
        """Create ``role`` (or reset its password) so its URL logs in."""
        from psycopg2 import sql

        with contextlib.closing(self.connect_admin()) as connection, connection.cursor() as cursor:
            # Parallel notebooks create the same roles; serialise them.
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('booktools roles'))")
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,))
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            cursor.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role.name)),
                (role.password,),
            )
            cursor.execute("COMMIT")

    def fresh_database(self, name: str, *, owner: Role = DEMO_ROLE) -> Database:
        """Drop and re-create the database for ``name``, owned by ``owner``.

        Only databases named ``book_...`` are ever dropped, so pointing
        ``DATABASE_URL`` at a real server never loses its own databases.
        """
        from psycopg2 import sql

        database = Database(self, database_name(name), owner)
        self.ensure_role(owner)
        with contextlib.closing(self.connect_admin()) as connection, connection.cursor() as cursor:
            identifier = sql.Identifier(database.name)
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
            cursor.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(identifier, sql.Identifier(owner.name))
            )
        return database

    def drop_database(self, database: Database) -> None:
        """Drop a database ``fresh_database`` made (tests clean up after themselves)."""
        from psycopg2 import sql

        if not database.name.startswith(DATABASE_PREFIX):
            raise BookToolsError(
                f"Refusing to drop {database.name!r}: not one of the book's databases. "
                f"Only databases that fresh_database made (named {DATABASE_PREFIX}...) are dropped."
            )
        with contextlib.closing(self.connect_admin()) as connection, connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))


@dataclass(frozen=True)
class Database:
    """One notebook's (or test's) own database on a ``Server``."""

    server: Server
    name: str
    owner: Role

    def url(self, driver: Driver = Driver.ASYNCPG) -> str:
        """The SQLAlchemy URL for ``driver``, logging in as the owner, password included."""
        from sqlalchemy.engine import URL

        url = URL.create(
            f"postgresql+{Driver(driver).value}",
            username=self.owner.name,
            password=self.owner.password,
            host=self.server.host,
            port=self.server.port,
            database=self.name,
        )
        return url.render_as_string(hide_password=False)


def database_name(name: str) -> str:
    """``book_`` + ``name`` reduced to what PostgreSQL takes unquoted (63 bytes)."""
    cleaned = "".join(c if c.isascii() and c.isalnum() else "_" for c in name.lower()).strip("_")
    if not cleaned:
        raise BookToolsError(
            f"A database name needs letters or digits, got {name!r}; pass the notebook's or test's name."
        )
    return (DATABASE_PREFIX + cleaned)[:63]
