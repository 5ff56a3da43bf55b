"""Apply the Alembic migrations programmatically (server start-up, CLI, tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config

from backend.db import Database

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
T = TypeVar("T")


def alembic_config(database_url: str) -> Config:
    """Alembic configuration pointing at ``database_url``."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)


def run_upgraded(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """For a command line: the database at ``database_url`` brought up to date, then ``work`` run on it in an event
    loop of its own; its connections are closed afterwards."""
    upgrade(database_url)

    async def run() -> T:
        db = Database(database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())
