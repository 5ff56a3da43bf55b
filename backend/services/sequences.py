"""Atomic named sequences (the `counters` table): the source of case numbers and queue numbers.

``next_value`` increments with a single ``UPDATE … RETURNING`` inside the caller's transaction, so two
concurrent callers (or two backend replicas) can never get the same value, and the value survives restarts
because it lives in the database.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Counter


async def next_value(session: AsyncSession, name: str) -> int:
    """Increment counter ``name`` (created at 0 when new) and return its new value."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(Counter).values(name=name, value=0).on_conflict_do_nothing(index_elements=["name"]))
    result = await session.execute(
        update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
    )
    return int(result.scalar_one())
