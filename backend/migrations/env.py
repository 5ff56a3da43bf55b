"""Alembic environment: runs migrations on the sync engine for the configured URL.

On PostgreSQL an advisory lock serialises migrations, so several backend replicas starting at once
do not race each other; SQLite serialises through its own write lock.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import text

from backend.config import Settings
from backend.db import create_sync_engine_for
from backend.models import Base

MIGRATION_LOCK_ID = 4_815_162_342  # arbitrary, constant: the advisory lock key for jiujin migrations

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or os.environ.get("DATABASE_URL") or Settings().database_url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the database, holding the migration lock on PostgreSQL."""
    engine = create_sync_engine_for(_url())
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_ID})
                connection.commit()
            try:
                context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
                with context.begin_transaction():
                    context.run_migrations()
                connection.commit()
            finally:
                if postgres:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_ID})
                    connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
