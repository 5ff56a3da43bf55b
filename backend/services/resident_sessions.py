"""The record of residents' sessions at the voice counters: when one started, how it ended, how many turns it had.

The counter service (`counter.sessions`) keeps the open sessions and reports each one that ends; this service writes
that report, one row per session, in one transaction. Nothing the resident said is recorded: the conversation lives
in Rasa under a sender id made for that session only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from backend.db import Database
from backend.models import ResidentSession

END_REASONS = ("done", "served", "idle", "revoked")
"""办完了; a filing or a queue number, then the pause; no turn for a while; the counter was revoked."""


@dataclass(frozen=True)
class EndedSession:
    """A resident's session that ended at counter ``counter``."""

    counter: str
    started_at: dt.datetime
    reason: str
    turns: int

    def __post_init__(self) -> None:
        if self.reason not in END_REASONS:
            raise ValueError(f"end reason {self.reason!r}: one of {', '.join(END_REASONS)}")


async def record_ended(db: Database, ended: EndedSession) -> None:
    """Write ``ended`` to ``counter_resident_sessions``."""
    async with db.write() as session:
        session.add(
            ResidentSession(
                counter=ended.counter,
                started_at=ended.started_at.astimezone(dt.UTC),
                end_reason=ended.reason,
                turns=ended.turns,
            )
        )
