"""The article's app as a deployed service writes it: connection options, and a logger of its own."""

import logging
import os

from sqlalchemy import String
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

log = logging.getLogger("myapp")

async_engine = create_async_engine(
    os.environ["APP_DATABASE_URL"],
    connect_args={"server_settings": {"application_name": "myapp", "lock_timeout": "1s"}},
)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)
