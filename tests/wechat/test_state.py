"""The shared state on both stores: Redis (production) and the embedded SQLite file, with several clients at once."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wechat.state import RedisState, SharedState, SqliteState, TokenStorage

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["sqlite", "redis"])
def new_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SharedState]]:
    """A factory of clients of one store: each call is another process's connection to the same state."""
    if request.param == "sqlite":
        yield lambda: SqliteState(tmp_path / "state.db")
    else:
        yield lambda: RedisState(REDIS_URL)


def _key(name: str) -> str:
    return f"test:{uuid.uuid4().hex}:{name}"


def test_only_one_of_many_concurrent_claims_wins(new_client: Callable[[], SharedState]) -> None:
    clients = [new_client() for _ in range(8)]
    key = _key("delivery")
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda c: c.claim(key, "mine", 60), clients * 4))
    assert wins.count(True) == 1
    assert clients[3].get(key) == "mine"


def test_claims_expire(new_client: Callable[[], SharedState]) -> None:
    state, key = new_client(), _key("short")
    assert state.claim(key, "a", 0.05)
    time.sleep(0.12)
    assert state.get(key) is None
    assert state.claim(key, "b", 60)


def test_an_allowance_is_used_exactly_once_per_unit(new_client: Callable[[], SharedState]) -> None:
    clients = [new_client() for _ in range(4)]
    key = _key("allowance")
    assert not clients[0].take(key)  # nothing granted yet
    clients[0].grant(key, 5, 60)
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda c: c.take(key), clients * 5))
    assert taken.count(True) == 5
    clients[1].grant(key, 5, 60)  # the follower wrote again: a fresh allowance
    assert clients[2].take(key)


def test_outbox_keeps_order_and_drains_once(new_client: Callable[[], SharedState]) -> None:
    a, b = new_client(), new_client()
    key = _key("outbox")
    for text in ("第一条", "第二条", "第三条"):
        a.push(key, text, 60)
    assert b.drain(key) == ["第一条", "第二条", "第三条"]
    assert a.drain(key) == []


def test_wechatpy_sees_one_token_across_clients(new_client: Callable[[], SharedState]) -> None:
    prefix = _key("session")
    TokenStorage(new_client(), prefix).set("wx_access_token", "TOKEN-1", 7200)
    other = TokenStorage(new_client(), prefix)
    assert other.get("wx_access_token") == "TOKEN-1"
    other.delete("wx_access_token")
    assert other.get("wx_access_token", "gone") == "gone"
