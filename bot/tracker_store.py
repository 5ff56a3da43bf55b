"""Conversations in PostgreSQL, for several Rasa instances: Rasa's SQL tracker store, riding out a restart.

Any instance can continue any conversation because every tracker lives in the database. Rasa's own
``SQLTrackerStore`` keeps pooled connections without checking them, so after a database restart the next turn of
each instance finds a dead connection; and Rasa's fail-safe wrapper answers a failed read with an empty tracker,
which would make the bot forget the conversation mid-way. This store checks a connection before using it
(``pool_pre_ping``) and retries reads and writes while the database comes back, up to ``retry_s`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

RETRY_S = 15.0
"""How long a turn waits for the database to come back before Rasa's fallback takes over."""
FIRST_PAUSE_S = 0.2
MAX_PAUSE_S = 2.0

T = TypeVar("T")


class ResilientSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` with connections checked before use and operations retried across a restart.

    Configured in endpoints (``deploy/endpoints.yml``) like Rasa's SQL store; ``url`` may be a whole SQLAlchemy URL
    (``postgresql://user@host:5432/jiujin_tracker``). The database must exist (``deploy.stack`` creates it).
    """

    def __init__(self, *args: Any, retry_s: float = RETRY_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self.retry_s = float(retry_s)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        parent = super()._retrieve
        return await self._retrying("read", lambda: parent(sender_id, fetch_events_from_all_sessions))

    async def save(self, tracker: DialogueStateTracker) -> None:
        parent = super().save
        await self._retrying("write", lambda: parent(tracker))

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation``; while the database is unreachable, wait and try again until ``retry_s`` is spent."""
        deadline = time.monotonic() + self.retry_s
        pause = FIRST_PAUSE_S
        while True:
            try:
                return await operation()
            except (OperationalError, DBAPIError) as exc:
                unreachable = isinstance(exc, OperationalError) or exc.connection_invalidated
                if not unreachable or time.monotonic() + pause > deadline:
                    raise
                log.warning("tracker %s failed (%s); retrying in %.1f s", what, type(exc.orig).__name__, pause)
                self.engine.dispose()  # drop every pooled connection of the old server at once
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_S)
