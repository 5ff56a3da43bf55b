"""State the WeChat channel shares between its instances: which deliveries were seen (who works on them, what was
answered), which instances are alive, each follower's customer-service allowance, messages waiting for an allowance
or for another try (and which followers have those), and the access token.

Redis when ``REDIS_URL`` is set (several machines); otherwise an embedded SQLite file, which the processes of one
machine share. Both are synchronous and fast; async callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from wechatpy.session import SessionStorage

from wechat.settings import WeChatSettings


class SharedState(Protocol):
    """What the channel needs from its shared store; every method is atomic across processes."""

    def claim(self, key: str, value: str, ttl_s: float) -> bool:
        """Store ``value`` under ``key`` unless the key exists; True when this caller stored it."""

    def replace(self, key: str, expected: str, value: str, ttl_s: float) -> bool:
        """Store ``value`` under ``key`` (for ``ttl_s``) only if the key holds ``expected``; True when this caller
        replaced it (compare-and-set: of several callers expecting the same value, one wins)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str, ttl_s: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def grant(self, key: str, count: int, ttl_s: float) -> None:
        """Set an allowance of ``count`` uses, valid for ``ttl_s``."""

    def take(self, key: str) -> bool:
        """Use one unit of the allowance; False when none is left (or it expired)."""

    def refund(self, key: str) -> bool:
        """Give back one unit taken by `take` (the send failed); False, changing nothing, when the allowance expired
        or was withdrawn meanwhile."""

    def push(self, key: str, value: str, ttl_s: float) -> None:
        """Append to a list (which expires ``ttl_s`` after the last push)."""

    def push_front(self, key: str, values: list[str], ttl_s: float) -> None:
        """Put ``values``, in their order, before the list's items, in one step (the list expires ``ttl_s`` after)."""

    def drain(self, key: str) -> list[str]:
        """Remove and return the whole list."""


class RedisState:
    """The shared state in Redis (production: several Rasa instances)."""

    _TAKE = (
        "local v = redis.call('GET', KEYS[1]) "
        "if v and tonumber(v) > 0 then redis.call('DECR', KEYS[1]) return 1 end return 0"
    )
    _REFUND = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCR', KEYS[1]) return 1 end return 0"
    _REPLACE = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0"
    )

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)
        self._take = self.redis.register_script(self._TAKE)
        self._refund = self.redis.register_script(self._REFUND)
        self._replace = self.redis.register_script(self._REPLACE)

    def claim(self, key: str, value: str, ttl_s: float) -> bool:
        return bool(self.redis.set(key, value, nx=True, px=int(ttl_s * 1000)))

    def replace(self, key: str, expected: str, value: str, ttl_s: float) -> bool:
        return bool(self._replace(keys=[key], args=[expected, value, int(ttl_s * 1000)]))

    def get(self, key: str) -> str | None:
        return self.redis.get(key)

    def put(self, key: str, value: str, ttl_s: float) -> None:
        self.redis.set(key, value, px=int(ttl_s * 1000))

    def delete(self, key: str) -> None:
        self.redis.delete(key)

    def grant(self, key: str, count: int, ttl_s: float) -> None:
        self.redis.set(key, count, px=int(ttl_s * 1000))

    def take(self, key: str) -> bool:
        return bool(self._take(keys=[key]))

    def refund(self, key: str) -> bool:
        # Only if the key exists: an INCR alone would create an allowance the follower never gave. INCR keeps the TTL.
        return bool(self._refund(keys=[key]))

    def push(self, key: str, value: str, ttl_s: float) -> None:
        with self.redis.pipeline() as pipe:
            pipe.rpush(key, value).pexpire(key, int(ttl_s * 1000)).execute()

    def push_front(self, key: str, values: list[str], ttl_s: float) -> None:
        if not values:
            return
        with self.redis.pipeline() as pipe:  # MULTI/EXEC: no other client's push lands between the values
            pipe.lpush(key, *reversed(values)).pexpire(key, int(ttl_s * 1000)).execute()

    def drain(self, key: str) -> list[str]:
        with self.redis.pipeline() as pipe:
            values, _ = pipe.lrange(key, 0, -1).delete(key).execute()
        return list(values)


class SqliteState:
    """The shared state in one SQLite file: the embedded default, shared by the processes of one machine."""

    _SCHEMA = """
        CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL);
        CREATE TABLE IF NOT EXISTS lists (
            id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL);
        CREATE INDEX IF NOT EXISTS lists_by_key ON lists (key);
    """
    _PURGE_EVERY = 500

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(self._SCHEMA)
        self._lock = threading.Lock()
        self._operations = 0

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._operations += 1
                if self._operations % self._PURGE_EVERY == 0:
                    now = time.time()
                    self._db.execute("DELETE FROM entries WHERE expires_at < ?", (now,))
                    self._db.execute("DELETE FROM lists WHERE expires_at < ?", (now,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _live(self, db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value, expires_at FROM entries WHERE key = ?", (key,)).fetchone()
        if row is None or row[1] < time.time():
            return None
        return str(row[0])

    def claim(self, key: str, value: str, ttl_s: float) -> bool:
        with self._transaction() as db:
            if self._live(db, key) is not None:
                return False
            db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", (key, value, time.time() + ttl_s))
            return True

    def replace(self, key: str, expected: str, value: str, ttl_s: float) -> bool:
        with self._transaction() as db:
            if self._live(db, key) != expected:
                return False
            db.execute("UPDATE entries SET value = ?, expires_at = ? WHERE key = ?", (value, time.time() + ttl_s, key))
            return True

    def get(self, key: str) -> str | None:
        with self._transaction() as db:
            return self._live(db, key)

    def put(self, key: str, value: str, ttl_s: float) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", (key, value, time.time() + ttl_s))

    def delete(self, key: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM entries WHERE key = ?", (key,))

    def grant(self, key: str, count: int, ttl_s: float) -> None:
        self.put(key, str(count), ttl_s)

    def take(self, key: str) -> bool:
        with self._transaction() as db:
            left = self._live(db, key)
            if left is None or int(left) <= 0:
                return False
            db.execute("UPDATE entries SET value = ? WHERE key = ?", (str(int(left) - 1), key))
            return True

    def refund(self, key: str) -> bool:
        with self._transaction() as db:
            left = self._live(db, key)
            if left is None:
                return False
            db.execute("UPDATE entries SET value = ? WHERE key = ?", (str(int(left) + 1), key))
            return True

    def push(self, key: str, value: str, ttl_s: float) -> None:
        with self._transaction() as db:
            expires = time.time() + ttl_s
            db.execute("INSERT INTO lists (key, value, expires_at) VALUES (?, ?, ?)", (key, value, expires))
            db.execute("UPDATE lists SET expires_at = ? WHERE key = ?", (expires, key))

    def push_front(self, key: str, values: list[str], ttl_s: float) -> None:
        if not values:
            return
        with self._transaction() as db:
            # Lists are read in id order: ids below the smallest in the table come first (negative ids are fine).
            (lowest,) = db.execute("SELECT COALESCE(MIN(id), 1) FROM lists").fetchone()
            expires = time.time() + ttl_s
            first = int(lowest) - len(values)
            db.executemany(
                "INSERT INTO lists (id, key, value, expires_at) VALUES (?, ?, ?, ?)",
                [(first + offset, key, value, expires) for offset, value in enumerate(values)],
            )
            db.execute("UPDATE lists SET expires_at = ? WHERE key = ?", (expires, key))

    def drain(self, key: str) -> list[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT value FROM lists WHERE key = ? AND expires_at >= ? ORDER BY id", (key, time.time())
            ).fetchall()
            db.execute("DELETE FROM lists WHERE key = ?", (key,))
            return [str(row[0]) for row in rows]


def open_state(settings: WeChatSettings) -> SharedState:
    """Redis when REDIS_URL is set, the embedded SQLite file otherwise."""
    if settings.redis_url:
        return RedisState(settings.redis_url)
    return SqliteState(settings.state_path)


class TokenStorage(SessionStorage):
    """wechatpy's session storage on the shared state, so every process uses (and refreshes) one access token."""

    def __init__(self, state: SharedState, prefix: str = "wechat:session") -> None:
        self.state = state
        self.prefix = prefix

    def get(self, key: str, default: Any = None) -> Any:
        value = self.state.get(f"{self.prefix}:{key}")
        return default if value is None else json.loads(value)

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if value is not None:
            self.state.put(f"{self.prefix}:{key}", json.dumps(value), ttl or 365 * 24 * 3600)

    def delete(self, key: str) -> None:
        self.state.delete(f"{self.prefix}:{key}")
