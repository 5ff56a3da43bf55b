"""The conversation lock for several Rasa instances: Rasa's Redis lock store, carrying on when Redis is down.

Rasa takes a ticket lock per conversation so that two messages of one follower are never processed at once, even on
two instances. With Rasa's own ``RedisLockStore`` an unreachable Redis fails every message. This one falls back to a
lock in the instance's memory while Redis is unreachable and logs it: nginx sends one OpenID to one instance
(``deploy/nginx.conf.j2``), so the fallback still serialises a follower's messages in all but a fail-over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 1.0
"""Connect and read timeout: a lock operation must not hold a turn up for long."""
WARN_EVERY_S = 30.0
"""An outage is logged once per this many seconds, not once per message."""

T = TypeVar("T")


class DegradingRedisLockStore(RedisLockStore):
    """``RedisLockStore`` on ``REDIS_URL`` (endpoint ``url``) with an in-memory fallback while Redis is down."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        url = endpoint_config.url or "redis://127.0.0.1:6379/0"
        options = redis.connection.parse_url(url)
        super().__init__(
            host=options.get("host", "localhost"),
            port=int(options.get("port", 6379)),
            db=int(options.get("db", 0)),
            username=options.get("username"),
            password=options.get("password"),
            key_prefix=endpoint_config.kwargs.get("key_prefix"),
            socket_timeout=REDIS_TIMEOUT_S,
        )
        self.red = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)
        self.local = InMemoryLockStore()
        self._warned_at = -WARN_EVERY_S

    def _either(self, in_redis: Callable[[], T], locally: Callable[[], T]) -> T:
        try:
            return in_redis()
        except redis.exceptions.RedisError as exc:
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning("Redis unreachable (%s): conversation locks are kept in this instance", type(exc).__name__)
            return locally()

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return self._either(
            lambda: RedisLockStore.get_lock(self, conversation_id), lambda: self.local.get_lock(conversation_id)
        )

    def delete_lock(self, conversation_id: str) -> None:
        self._either(
            lambda: RedisLockStore.delete_lock(self, conversation_id), lambda: self.local.delete_lock(conversation_id)
        )

    def save_lock(self, lock: TicketLock) -> None:
        self._either(lambda: RedisLockStore.save_lock(self, lock), lambda: self.local.save_lock(lock))

    def __repr__(self) -> str:  # pragma: no cover - for Rasa's debug log
        return f"{type(self).__name__}({self.key_prefix!r})"
