"""Conversations in PostgreSQL, for several Rasa instances: Rasa's SQL tracker store, riding out a restart.

Any instance can continue any conversation because every tracker lives in the database. Rasa's own
``SQLTrackerStore`` keeps pooled connections without checking them, so after a database restart the next turn of
each instance finds a dead connection; and Rasa's fail-safe wrapper answers a failed read with an empty tracker,
which would make the bot forget the conversation mid-way. This store checks a connection before using it
(``pool_pre_ping``) and retries reads and writes while the database comes back, up to ``retry_s`` seconds, with
pauses that double and carry a random part, so the instances that lost the database together do not reconnect in
step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_before_delay, wait_exponential, wait_random

log = logging.getLogger(__name__)

RETRY_S = 15.0
"""How long a turn waits for the database to come back before Rasa's fallback takes over."""
FIRST_PAUSE_S = 0.2
"""Pause before the first retry, in seconds; it doubles after each attempt."""
MAX_PAUSE_S = 2.0
"""Longest pause between two attempts, in seconds, before the random part."""
JITTER_S = 0.2
"""Each pause is longer by up to this many seconds, at random."""

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
        return await self._retrying("read", super()._retrieve, sender_id, fetch_events_from_all_sessions)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self._retrying("write", super().save, tracker)

    async def _retrying(self, what: str, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``operation(*args)``; while the database is unreachable, wait and try again while ``retry_s`` lasts.

        ``operation`` must be a coroutine function itself (not a lambda returning a coroutine): tenacity awaits only
        what it recognises as one."""

        def before_sleep(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            cause = type(getattr(failure, "orig", failure)).__name__
            log.warning("tracker %s failed (%s); retrying in %.1f s", what, cause, state.upcoming_sleep)
            self.engine.dispose()  # drop every pooled connection of the old server at once

        retrying = AsyncRetrying(
            retry=retry_if_exception(_unreachable),
            wait=wait_exponential(multiplier=FIRST_PAUSE_S, max=MAX_PAUSE_S) + wait_random(0, JITTER_S),
            stop=stop_before_delay(self.retry_s),
            before_sleep=before_sleep,
            reraise=True,
        )
        return await retrying(operation, *args)


def _unreachable(exc: BaseException) -> bool:
    """The database cannot be reached (down, restarting, or the connection was cut), not a failing statement."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
