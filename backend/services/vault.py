"""The personal-data vault: ID numbers and phones residents typed or said, kept out of Rasa's tracker.

Rasa's channels mask every such number before the dialogue sees it (`security.resident_text`) and deposit the real
value here, under the conversation (channel and sender) and the masked form; the actions read it back when they
validate an answer or file a case, so the tracker, its events and every bot utterance hold masked forms only.

Invariants:

- One value per (conversation, masked form): a second deposit of the same masked form replaces the value and
  renews the expiry (the latest said wins; two numbers with the same first six and last four are practically never
  given in one conversation).
- An entry is answered only before ``expires_at`` (`TTL` after its last deposit) and only to the conversation that
  deposited it; the conversation is kept as a SHA-256 digest, never as its id.
- Every deposit first deletes what has expired, for every conversation: nothing stays much past its time.
- The value is always the number the masked form was made of (the masked form is computed here, not taken from the
  caller).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend.db import Database
from backend.models import VaultEntry, as_utc
from vocabulary.masking import masked_form

TTL = dt.timedelta(hours=2)
"""How long a deposited number stays: a filing conversation, with its pauses, takes far less."""


def conversation_hash(channel: str, sender: str) -> str:
    """The conversation's key in the vault: SHA-256 of its channel and sender."""
    return hashlib.sha256(f"{channel}\x00{sender}".encode()).hexdigest()


async def deposit(
    db: Database, channel: str, sender: str, values: Sequence[str], *, now: dt.datetime, ttl: dt.timedelta = TTL
) -> list[str]:
    """Keep ``values`` for the conversation until ``now`` + ``ttl``; their masked forms, in order."""
    now = now.astimezone(dt.UTC)  # SQLite keeps no offset: every moment is written and compared in UTC
    key, expires = conversation_hash(channel, sender), now + ttl
    masked = [masked_form(value) for value in values]
    async with db.write() as session:
        await session.execute(delete(VaultEntry).where(VaultEntry.expires_at <= now))
        insert = postgresql_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        for form, value in dict(zip(masked, values, strict=True)).items():
            row = {"conversation_hash": key, "masked": form, "value": value, "created_at": now, "expires_at": expires}
            statement = insert(VaultEntry).values(**row)
            # Atomic on both databases: two deposits of one number at once leave one row.
            statement = statement.on_conflict_do_update(
                index_elements=["conversation_hash", "masked"],
                set_={"value": value, "created_at": now, "expires_at": expires},
            )
            await session.execute(statement)
    return masked


async def reveal(db: Database, channel: str, sender: str, masked: Sequence[str], *, now: dt.datetime) -> dict[str, str]:
    """The values the conversation deposited under ``masked`` and that have not expired (the others left out)."""
    if not masked:
        return {}
    now = now.astimezone(dt.UTC)
    statement = select(VaultEntry).where(
        VaultEntry.conversation_hash == conversation_hash(channel, sender), VaultEntry.masked.in_(list(masked))
    )
    async with db.read() as session:
        entries = (await session.execute(statement)).scalars().all()
    return {entry.masked: entry.value for entry in entries if (as_utc(entry.expires_at) or now) > now}


async def purge(db: Database, *, now: dt.datetime) -> int:
    """Delete every expired entry; how many were deleted."""
    now = now.astimezone(dt.UTC)
    async with db.write() as session:
        result = await session.execute(delete(VaultEntry).where(VaultEntry.expires_at <= now))
    return int(result.rowcount or 0)
