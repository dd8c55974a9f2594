"""Fixtures for tests that need the book's PostgreSQL or a scratch Alembic project."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest

from booktools.postgres import DEMO_ROLE, Database, Driver, Role, Server, get_server
from booktools.project import ScratchProject

RATIO_GUARD = "ratio_guard"
"""Marks a timing check that is a generous ratio guard, not a measurement (benchmarks/ measures)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{RATIO_GUARD}: a generous timing ratio guard, not a measurement; deselect with -m 'not {RATIO_GUARD}'",
    )
    config.addinivalue_line(
        "markers", "slow: takes half a minute or more (a pip resolution); deselect with -m 'not slow'",
    )


@pytest.fixture(scope="session")
def server() -> Server:
    """The run's server: DATABASE_URL's, or the embedded one the plugin started."""
    return get_server()


def _test_database_name(request: pytest.FixtureRequest) -> str:
    """Unique per test, readable, and within PostgreSQL's 63 bytes."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    return f"t_{request.node.name[:40]}_{digest}"


@pytest.fixture
def database(server: Server, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh database for this test, owned by the demo role; dropped afterwards."""
    database = server.fresh_database(_test_database_name(request))
    yield database
    server.drop_database(database)


ProjectFactory = Callable[..., ScratchProject]


@pytest.fixture
def make_project(server: Server, request: pytest.FixtureRequest) -> Iterator[ProjectFactory]:
    """Build scratch projects: ``make_project(app="shop", env="async", driver=..., owner=...)``.

    Each gets its own fresh database, owned by ``owner``, dropped after the test.
    """
    made: list[Database] = []

    def make(
        *, app: str = "users", env: str | None = None, driver: Driver = Driver.ASYNCPG,
        owner: Role = DEMO_ROLE,
    ) -> ScratchProject:
        database = server.fresh_database(f"{_test_database_name(request)}_{len(made) + 1}", owner=owner)
        made.append(database)
        project = ScratchProject.create(f"test-{request.node.name[:30]}", app_database_url=database.url(driver))
        project.add_app(app)
        if env is not None:
            project.use_env(env)
        return project

    yield make
    for database in made:
        server.drop_database(database)
