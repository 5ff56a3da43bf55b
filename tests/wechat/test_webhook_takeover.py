"""Several webhook instances on one shared state: a repeated delivery waits for the answer of the instance working on
it, and takes the delivery over when that instance died (killed mid-turn, its liveness key expired)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from wechatpy import parse_message

from tests.waiting import eventually
from tests.wechat.test_webhook import APPID, TOKEN, RecordingApi, Wire
from wechat.delivery import CustomerService, _allowance_key, _outbox_key
from wechat.settings import WeChatSettings
from wechat.state import RedisState, SharedState, SqliteState
from wechat.webhook import IN_PROGRESS, WeChatWebhook, delivery_key, liveness_key

REDIS_URL = "redis://127.0.0.1:6379/12"
HEARTBEAT_S, LIVENESS_S = 0.05, 0.25
"""The production heartbeat (1 s, valid 3 s), scaled down."""
PATIENCE_S = 5.0
"""No test waits this long unless the webhook hangs."""


def _open() -> asyncio.Event:
    gate = asyncio.Event()
    gate.set()
    return gate


@dataclass
class Bot:
    """Stands in for Rasa: a turn answers ``answer`` once ``gate`` is open; records the turns and their tasks."""

    answer: str
    gate: asyncio.Event = field(default_factory=_open)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    turns: list[str] = field(default_factory=list)
    running: list[asyncio.Task[Any]] = field(default_factory=list)

    async def __call__(self, openid: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        self.turns.append(text)
        self.running.append(asyncio.current_task())  # type: ignore[arg-type]
        self.started.set()
        await self.gate.wait()
        return [{"recipient_id": openid, "text": self.answer}]


@dataclass
class Instance:
    """One Rasa instance's webhook, its heartbeat and the requests it is answering."""

    webhook: WeChatWebhook
    bot: Bot
    wire: Wire = field(default_factory=Wire)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def send(self, xml: str) -> str:
        """What WeChat would show for one delivery of ``xml`` to this instance ("success": nothing)."""
        reply = await self.webhook.receive(*self.wire.request(xml))
        assert reply.status == 200
        return reply.body if reply.body == "success" else self.wire.read_reply(reply.body).content

    def send_later(self, xml: str) -> asyncio.Task[str]:
        task = asyncio.create_task(self.send(xml))
        self.tasks.append(task)
        return task

    async def kill(self) -> None:
        """The process dies: its requests, turns and heartbeat stop where they are."""
        doomed = [*self.tasks, *self.bot.running]
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)


@dataclass
class Store:
    """One shared state; each instance gets its own connection to it, as another process would."""

    new_state: Callable[[], SharedState]
    openid: str = field(default_factory=lambda: f"oTakeover{uuid.uuid4().hex[:19]}")
    instances: list[Instance] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def instance(self, name: str, budget_s: float = 2.0, *, slow: bool = False) -> Instance:
        """An instance with its heartbeat; with ``slow``, its turns wait until its bot's gate is opened."""
        state, bot = self.new_state(), Bot(answer=f"{name}算出的回答")
        if slow:
            bot.gate.clear()
        settings = WeChatSettings(token=TOKEN, appid=APPID, secret="s", reply_budget_s=budget_s)
        webhook = WeChatWebhook(settings, state, CustomerService(RecordingApi(), state), bot)  # type: ignore[arg-type]
        instance = Instance(webhook, bot)
        instance.tasks.append(asyncio.create_task(webhook.keep_alive_forever(HEARTBEAT_S, LIVENESS_S)))
        self.instances.append(instance)
        self.keys.append(liveness_key(webhook.instance_id))
        return instance

    def message(self, text: str) -> str:
        """A text message from this store's follower, with a MsgId no other run uses."""
        msg_id = 10**18 + uuid.uuid4().int % 10**18
        xml = (
            f"<xml><ToUserName><![CDATA[gh_jiujin000000]]></ToUserName><FromUserName><![CDATA[{self.openid}]]>"
            f"</FromUserName><CreateTime>1800000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
        )
        self.keys.append(delivery_key(parse_message(xml)))
        return xml


@contextlib.asynccontextmanager
async def _store(kind: str, tmp_path: Path) -> AsyncIterator[Store]:
    if kind == "sqlite":
        store = Store(lambda: SqliteState(tmp_path / "state.db"))
    else:
        store = Store(lambda: RedisState(REDIS_URL))
    store.keys += [_allowance_key(store.openid), _outbox_key(store.openid)]
    try:
        yield store
    finally:
        for instance in store.instances:
            await instance.kill()
        if kind == "redis":
            RedisState(REDIS_URL).redis.delete(*store.keys)  # only this test's keys: db 12 may be shared


@pytest.fixture(params=["sqlite", "redis"])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with _store(request.param, tmp_path) as store:
        yield store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with _store("sqlite", tmp_path) as store:
        yield store


async def _claimed_by_a_dying_instance(store: Store, xml: str) -> Instance:
    """Instance A receives ``xml``, starts its turn, and is killed in the middle of it (its liveness key still valid
    for up to LIVENESS_S)."""
    a = store.instance("甲", slow=True)
    a.send_later(xml)
    await asyncio.wait_for(a.bot.started.wait(), PATIENCE_S)
    assert store.new_state().get(liveness_key(a.webhook.instance_id)) is not None  # alive until now
    await a.kill()
    return a


async def test_a_delivery_whose_instance_died_is_taken_over_and_answered_once(any_store: Store) -> None:
    xml = any_store.message("我想办居住证")
    a = await _claimed_by_a_dying_instance(any_store, xml)
    b = any_store.instance("乙")
    # A's liveness key may last LIVENESS_S more: B waits, and takes over once it has expired.
    assert await asyncio.wait_for(b.send(xml), PATIENCE_S) == b.bot.answer  # passive: within B's budget
    assert a.bot.turns == ["我想办居住证"] and b.bot.turns == ["我想办居住证"]
    # WeChat's retry, on either instance, gets B's answer and runs nothing.
    c = any_store.instance("丙")
    assert await asyncio.wait_for(c.send(xml), PATIENCE_S) == b.bot.answer
    assert len(b.bot.turns) == 1 and c.bot.turns == []


async def test_two_instances_racing_to_take_over_run_one_turn(any_store: Store) -> None:
    xml = any_store.message("医保卡丢了")
    await _claimed_by_a_dying_instance(any_store, xml)
    b, c = any_store.instance("乙"), any_store.instance("丙")
    replies = await asyncio.wait_for(asyncio.gather(b.send(xml), c.send(xml)), PATIENCE_S)
    assert sorted([len(b.bot.turns), len(c.bot.turns)]) == [0, 1]
    winner = b if b.bot.turns else c
    assert replies == [winner.bot.answer, winner.bot.answer]  # the loser waited for the winner's answer


async def test_a_repeat_waits_for_the_answer_of_a_live_instance_and_runs_nothing(store: Store) -> None:
    a, b = store.instance("甲", slow=True), store.instance("乙")
    xml = store.message("查进度")
    first = a.send_later(xml)
    await asyncio.wait_for(a.bot.started.wait(), PATIENCE_S)
    repeat = b.send_later(xml)
    await asyncio.sleep(LIVENESS_S * 2)  # long enough for a dead A's key to expire: A's heartbeat keeps it
    assert not repeat.done()
    a.bot.gate.set()
    assert await asyncio.wait_for(repeat, PATIENCE_S) == await first == a.bot.answer
    assert len(a.bot.turns) == 1 and b.bot.turns == []


async def test_a_repeat_gets_success_when_a_live_instance_is_slower_than_its_budget(store: Store) -> None:
    a, b = store.instance("甲", slow=True), store.instance("乙", budget_s=0.3)
    xml = store.message("查进度")
    first = a.send_later(xml)
    await asyncio.wait_for(a.bot.started.wait(), PATIENCE_S)
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(b.send(xml), PATIENCE_S) == "success"  # WeChat retries
    # Within B's own budget (WeChat's 5-second rule), with room for a loaded machine; A's turn is still held.
    assert 0.3 <= asyncio.get_running_loop().time() - started < 0.3 + 2
    a.bot.gate.set()
    assert await first == a.bot.answer
    assert len(a.bot.turns) == 1 and b.bot.turns == []


async def test_a_claim_without_an_owner_is_left_alone(store: Store) -> None:
    """A claim written before instances had ids: its owner is unknown, so it is taken to be alive."""
    b = store.instance("乙", budget_s=0.2)
    xml = store.message("你好")
    store.new_state().put(delivery_key(parse_message(xml)), IN_PROGRESS, 60)
    assert await asyncio.wait_for(b.send(xml), PATIENCE_S) == "success"
    assert b.bot.turns == []


class FlakyState(SqliteState):
    """Shared state whose writes fail the first ``failures`` times."""

    failures = 5

    def put(self, key: str, value: str, ttl_s: float) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("Redis went away")
        super().put(key, value, ttl_s)


async def test_the_heartbeat_outlives_an_unreachable_store_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = FlakyState(tmp_path / "state.db")
    settings = WeChatSettings(token=TOKEN, appid=APPID, secret="s")
    webhook = WeChatWebhook(settings, state, CustomerService(RecordingApi(), state), Bot("-"))  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, "wechat.webhook")
    heartbeat = asyncio.create_task(webhook.keep_alive_forever(0.01, 0.5))
    try:
        await eventually(lambda: state.get(liveness_key(webhook.instance_id)) is not None, 20, "a heartbeat")
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].exc_info is not None  # five failures, one line (with its traceback)
    assert any("renewed again" in record.getMessage() for record in caplog.records)
