"""Database engines: one URL in the settings, the async driver for the app and the sync one for Alembic.

SQLite (the embedded default) gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` transactions, so that
concurrent writers queue for the lock instead of failing with "database is locked" half-way through a
transaction. PostgreSQL goes through psycopg 3, which serves both the async and the sync engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import Column, UniqueConstraint, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30


def _normalise(url: str | URL, *, async_driver: bool) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite" if async_driver else "sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    raise ValueError(f"DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")


def async_url(url: str | URL) -> URL:
    """The URL with the async driver (aiosqlite / psycopg)."""
    return _normalise(url, async_driver=True)


def sync_url(url: str | URL) -> URL:
    """The URL with the sync driver (sqlite3 / psycopg), for migrations and scripts."""
    return _normalise(url, async_driver=False)


def is_sqlite(url: str | URL) -> bool:
    """True when the URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_file(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_pragmas(engine: Engine) -> None:
    """WAL, foreign keys, busy timeout, and take the write lock when a transaction begins."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (the recipe from SQLAlchemy's SQLite docs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine_for(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """The application's async engine for ``url``."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite_file(target)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
        engine = create_async_engine(target, **kwargs)
        _install_sqlite_pragmas(engine.sync_engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)  # survive a database restart between requests
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(target, **kwargs)


def create_sync_engine_for(url: str | URL) -> Engine:
    """A sync engine (migrations, CLI), with the same SQLite behaviour as the app's."""
    from sqlalchemy import create_engine

    target = sync_url(url)
    if target.get_backend_name() == "sqlite":
        _prepare_sqlite_file(target)
        engine = create_engine(target, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _install_sqlite_pragmas(engine)
        return engine
    return create_engine(target, pool_pre_ping=True)


def violates_unique(error: IntegrityError, column: Column[Any]) -> bool:
    """True when ``error`` is a violation of the unique constraint on ``column`` alone, not of any other constraint.

    PostgreSQL names the violated constraint (its name comes from the models' metadata); SQLite names its columns.
    """
    diag = getattr(error.orig, "diag", None)
    if diag is not None:  # psycopg
        names = {
            c.name
            for c in column.table.constraints
            if isinstance(c, UniqueConstraint) and c.columns.keys() == [column.key]
        }
        return getattr(error.orig, "sqlstate", None) == "23505" and diag.constraint_name in names
    return str(error.orig) == f"UNIQUE constraint failed: {column.table.name}.{column.name}"


class Database:
    """The app's database: ``read()`` for queries, ``write()`` for one transaction that commits on success.

    On SQLite, writes in one process queue on an asyncio lock before taking the database's write lock, so
    concurrent requests wait their turn in the event loop instead of in SQLite's busy-retry sleeps, and
    reads use their own engine with ordinary (deferred) transactions, which WAL never blocks.
    Sessions keep loaded attributes after commit, since responses are built after committing.
    """

    def __init__(self, url: str | URL) -> None:
        self.url = url
        self.engine = create_engine_for(url)
        self._writes = async_sessionmaker(self.engine, expire_on_commit=False)
        if is_sqlite(url):
            self._read_engine: AsyncEngine | None = create_async_engine(
                async_url(url), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}
            )
            self._reads = async_sessionmaker(self._read_engine, expire_on_commit=False)
            self._write_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self._read_engine, self._reads, self._write_lock = None, self._writes, None

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries (its transaction is rolled back at the end)."""
        async with self._reads() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed when the block ends, rolled back on an exception."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_lock is not None:
                await stack.enter_async_context(self._write_lock)
            session = await stack.enter_async_context(self._writes.begin())
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._read_engine is not None:
            await self._read_engine.dispose()
