"""The shared state on both stores: Redis (production) and the embedded SQLite file, with several clients at once."""

from __future__ import annotations

import os
import threading
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


def test_only_one_of_many_concurrent_replaces_wins(new_client: Callable[[], SharedState]) -> None:
    clients = [new_client() for _ in range(8)]
    for _ in range(10):  # rounds: the race is short
        key, start = _key("delivery"), threading.Barrier(8)
        clients[0].put(key, "dead owner", 60)

        def replace(n: int, key: str = key, start: threading.Barrier = start) -> bool:
            start.wait()  # all at once
            return clients[n].replace(key, "dead owner", f"taker-{n}", 60)

        with ThreadPoolExecutor(8) as pool:
            wins = list(pool.map(replace, range(8)))
        assert wins.count(True) == 1
        assert clients[5].get(key) == f"taker-{wins.index(True)}"


def test_replace_changes_only_the_expected_live_value_and_sets_its_ttl(new_client: Callable[[], SharedState]) -> None:
    a, b = new_client(), new_client()
    key = _key("delivery")
    assert not a.replace(key, "old", "new", 60)  # nothing there: nothing is created
    assert b.get(key) is None
    b.put(key, "other", 60)
    assert not a.replace(key, "old", "new", 60)
    assert b.get(key) == "other"
    b.put(key, "old", 0.05)
    assert a.replace(key, "old", "new", 60)
    time.sleep(0.12)
    assert b.get(key) == "new"  # the new TTL, not the old one
    assert b.replace(key, "new", "newer", 0.05)
    time.sleep(0.12)
    assert a.get(key) is None
    b.put(key, "old", 0.05)
    time.sleep(0.12)
    assert not a.replace(key, "old", "new", 60)  # an expired value is no value
    assert b.get(key) is None


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


def test_a_refund_gives_back_one_unit_and_never_makes_an_allowance(new_client: Callable[[], SharedState]) -> None:
    a, b = new_client(), new_client()
    key = _key("allowance")
    assert not a.refund(key)  # no allowance: a refund must not create one
    assert not b.take(key)
    a.grant(key, 1, 60)
    assert b.take(key) and not a.take(key)
    assert a.refund(key)  # the send failed: the unit comes back …
    assert b.take(key) and not b.take(key)  # … once


def test_refunds_from_many_clients_all_count(new_client: Callable[[], SharedState]) -> None:
    clients = [new_client() for _ in range(4)]
    key = _key("allowance")
    clients[0].grant(key, 5, 60)
    assert all(clients[n % 4].take(key) for n in range(5))
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda c: c.refund(key), clients + clients[:1]))
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda c: c.take(key), clients * 3))
    assert taken.count(True) == 5


def test_a_refund_does_not_extend_the_allowance(new_client: Callable[[], SharedState]) -> None:
    state, key = new_client(), _key("allowance")
    state.grant(key, 2, 0.1)
    assert state.take(key) and state.refund(key)
    time.sleep(0.2)
    assert not state.refund(key) and not state.take(key)


def test_push_front_puts_values_first_in_their_order(new_client: Callable[[], SharedState]) -> None:
    a, b = new_client(), new_client()
    key, other = _key("outbox"), _key("other")
    b.push(other, "别人的", 60)  # another list's items must not get in the way
    a.push_front(key, ["甲"], 60)  # onto an empty list
    a.push(key, "乙", 60)
    b.push_front(key, ["一", "二"], 60)
    a.push_front(key, [], 60)
    a.push(key, "丙", 60)
    assert b.drain(key) == ["一", "二", "甲", "乙", "丙"]
    assert a.drain(other) == ["别人的"]


def test_concurrent_push_fronts_stay_whole(new_client: Callable[[], SharedState]) -> None:
    clients = [new_client() for _ in range(4)]
    key = _key("outbox")
    batches = [[f"{n}-{part}" for part in range(3)] for n in range(12)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: clients[n % 4].push_front(key, batches[n], 60), range(12)))
    drained = clients[0].drain(key)
    assert sorted(drained) == sorted(value for batch in batches for value in batch)
    for start in range(0, len(drained), 3):  # every batch in one piece and in its order
        assert drained[start : start + 3] in batches


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
