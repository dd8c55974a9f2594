"""The patch chapters 20 and 25 apply to a project's own env.py (``booktools.envpatch``)."""

from __future__ import annotations

from importlib.resources import files

import pytest

from booktools.envpatch import patch_online
from booktools.errors import BookToolsError

GENERIC = files("alembic").joinpath("templates", "generic", "env.py").read_text()


def test_the_patched_generic_template_is_the_async_one_and_keeps_its_configure_call() -> None:
    patched = patch_online(GENERIC)
    compile(patched, "env.py", "exec")
    assert "engine_from_config(" not in patched.replace("async_engine_from_config(", "")
    assert "await connection.run_sync(do_run_migrations)" in patched
    assert "asyncio.run(run_async_migrations())" in patched
    configure = (
        "        context.configure(\n            connection=connection, target_metadata=target_metadata\n        )\n"
    )
    assert configure in GENERIC and configure in patched


def test_lines_outside_the_online_connection_are_kept() -> None:
    with_options = GENERIC.replace(
        "connection=connection, target_metadata=target_metadata\n",
        "connection=connection,\n            target_metadata=target_metadata,\n"
        '            include_schemas=True,\n            version_table_schema="meta",\n',
    )
    patched = patch_online(with_options)
    removed = set(with_options.splitlines()) - set(patched.splitlines())
    assert removed == {
        "from sqlalchemy import engine_from_config",
        "    connectable = engine_from_config(",
        "    with connectable.connect() as connection:",
    }


def test_the_one_line_import_form_is_patched_too() -> None:
    one_line = GENERIC.replace(
        "from sqlalchemy import engine_from_config\nfrom sqlalchemy import pool\n",
        "from sqlalchemy import engine_from_config, pool\n",
    )
    compile(patch_online(one_line), "env.py", "exec")


def test_the_one_line_configure_call_stays_inside_the_function() -> None:
    one_line = GENERIC.replace(
        "        context.configure(\n            connection=connection, target_metadata=target_metadata\n        )\n",
        "        context.configure(connection=connection, target_metadata=target_metadata)\n",
    )
    patched = patch_online(one_line)
    compile(patched, "env.py", "exec")
    assert (
        "    def do_run_migrations(connection: Connection) -> None:\n"
        "        context.configure(connection=connection, target_metadata=target_metadata)\n"
    ) in patched


# An env.py whose block opens the transaction and never calls begin_transaction() (common
# around an advisory lock): under connect() its migrations would be rolled back on close.
BEGIN_WITHOUT_BEGIN_TRANSACTION = GENERIC.replace(
    "    with connectable.connect() as connection:\n", "    with connectable.begin() as connection:\n"
).replace(
    "        with context.begin_transaction():\n            context.run_migrations()\n",
    "        context.run_migrations()\n",
)


def test_a_begin_block_stays_a_begin_block() -> None:
    assert BEGIN_WITHOUT_BEGIN_TRANSACTION != GENERIC
    patched = patch_online(BEGIN_WITHOUT_BEGIN_TRANSACTION)
    compile(patched, "env.py", "exec")
    assert "            async with connectable.begin() as connection:\n" in patched
    assert "connectable.connect()" not in patched


def test_a_connect_block_stays_a_connect_block() -> None:
    patched = patch_online(GENERIC)
    assert "            async with connectable.connect() as connection:\n" in patched
    assert "connectable.begin()" not in patched


def test_an_env_py_of_another_shape_is_refused_with_a_reason() -> None:
    async_template = files("alembic").joinpath("templates", "async", "env.py").read_text()
    with pytest.raises(BookToolsError, match="patch this env.py by hand"):
        patch_online(async_template)
