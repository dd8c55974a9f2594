# The lines to adapt to your project (the rest is Alembic's template):
# - "app" stands for YOUR module, the one that defines your models and your
#   engine: change "from app import ..." to it (e.g. "from myproject.db import").
# - target_metadata: where your metadata comes from (Base.metadata, or a Core
#   MetaData() object).
# - async_engine: where your engine, and so the database URL, comes from.
# An existing project patches its own env.py instead of copying this file:
# see chapter 20.

import asyncio
from logging.config import fileConfig

from sqlalchemy.engine import Connection

from alembic import context

from app import Base, async_engine

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically. A caller that runs Alembic inside
# its own process and keeps its own logging sets
# config.attributes["configure_logger"] = False.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

# add your model's MetaData object here
# for 'autogenerate' support
target_metadata = Base.metadata

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def run_migrations_offline() -> None:
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    # The application's URL object: never a string, so the password is neither
    # masked nor passed through ConfigParser, where "%" means interpolation.
    url = async_engine.url
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )

    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)

    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # The application's own engine, so migrations connect exactly as the
    # application does: URL, connect_args, server_settings, SSL, async_creator;
    # its role and timeouts too (chapter 4 shows a URL of their own instead).
    connectable = async_engine

    try:
        async with connectable.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        # Close its pooled connection while this event loop still runs, also after a
        # failed migration: the next asyncio.run() in this process has a new loop.
        await connectable.dispose()


def run_migrations_online() -> None:
    """Run migrations in 'online' mode.

    A caller that already holds a connection (app startup, a test, a notebook
    whose event loop is running) passes it in config.attributes["connection"];
    otherwise, as from the alembic command line, we make our own. Hand it over
    from engine.connect(), not engine.begin(): in a transaction the caller
    began, Alembic begins none, and autocommit_block() fails (chapter 8).

    """

    connectable = config.attributes.get("connection", None)

    if connectable is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connectable)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
