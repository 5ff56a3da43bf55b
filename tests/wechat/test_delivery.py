"""Customer-service delivery when the WeChat API fails: the allowance given back, failed messages resent by the
sweeper in order and exactly once, messages held for want of allowance left for the follower's next message,
followers who are gone dropped, and a sweep loop that outlives its errors. Over both stores."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from wechatpy.exceptions import WeChatClientException

from tests.waiting import eventually
from tests.wechat.conftest import PLAIN, StandIn
from vocabulary.masking import mask_openid
from wechat import delivery
from wechat.client import WeChatApi
from wechat.delivery import ALLOWANCE, HELD_OVER, RETRY_INDEX, CustomerService, sweep_forever
from wechat.settings import WeChatSettings
from wechat.state import RedisState, SharedState, SqliteState
from wechat.text import CONTINUED, split

REDIS_URL = "redis://127.0.0.1:6379/13"
LONG = "\n".join(f"第{n}段：" + "请带好身份证原件和户口簿原件。" * 40 for n in (1, 2, 3))
"""Three different pieces of WeChat's size."""
TRANSPORT = None  # wechatpy's errcode for a network failure or an HTTP error status


@pytest.fixture(autouse=True)
def _no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "RETRY_PAUSE_S", 0.0)


@pytest.fixture(params=["sqlite", "redis"])
def new_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SharedState]]:
    """Each call: another instance's connection to one shared state, empty at the start of the test."""
    if request.param == "sqlite":
        yield lambda: SqliteState(tmp_path / "state.db")
        return
    db = redis.Redis.from_url(REDIS_URL)
    db.flushdb()  # the retry index is one key for everybody
    yield lambda: RedisState(REDIS_URL)
    db.flushdb()


@dataclass
class FlakyApi:
    """Stands in for WeChatApi.send_text: the next ``failures`` calls fail with ``errcode`` (None: a transport
    failure, as wechatpy reports it), then it works. Records what went out."""

    failures: float = 0
    errcode: int | None = TRANSPORT
    delay_s: float = 0.0
    calls: int = 0
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send_text(self, openid: str, text: str) -> None:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.failures > 0:
            self.failures -= 1
            raise WeChatClientException(self.errcode, "system error" if self.errcode else None)
        self.sent.append((openid, text))

    def to(self, openid: str) -> list[str]:
        return [text for to, text in self.sent if to == openid]


def _openid() -> str:
    return f"oTest{uuid.uuid4().hex[:23]}"


def _service(api: FlakyApi, state: SharedState) -> CustomerService:
    return CustomerService(api, state)  # type: ignore[arg-type]


def _left(state: SharedState, openid: str) -> int:
    return int(state.get(f"wechat:allowance:{openid}") or 0)


# --- the allowance ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [TRANSPORT, -1], ids=["transport", "system busy"])
async def test_a_failed_send_gives_its_unit_back(new_state: Callable[[], SharedState], code: int | None) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi(failures=delivery.SEND_ATTEMPTS, errcode=code)
    service = _service(api, state)
    await service.follower_wrote(openid)
    assert not await service.deliver(openid, "您的居住证已办好。")
    assert api.calls == delivery.SEND_ATTEMPTS and api.sent == []
    assert _left(state, openid) == ALLOWANCE  # the message never went, so the unit did not either
    assert await service.deliver(openid, "下一条")
    assert _left(state, openid) == ALLOWANCE - 2  # the held message went first, then this one


async def test_a_refusal_for_the_allowance_keeps_the_unit_used(new_state: Callable[[], SharedState]) -> None:
    state, openid = new_state(), _openid()
    service = _service(FlakyApi(failures=1, errcode=45047), state)
    await service.follower_wrote(openid)
    assert not await service.deliver(openid, "您的居住证已办好。")
    assert _left(state, openid) == ALLOWANCE - 1  # WeChat counted it


# --- resending after a failure ------------------------------------------------------------------------------------
async def test_a_failed_late_answer_is_resent_as_written_in_order_once_the_api_works(
    new_state: Callable[[], SharedState],
) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi(failures=2 * delivery.SEND_ATTEMPTS)  # the delivery fails, and so does the first sweep
    service = _service(api, state)
    await service.follower_wrote(openid)
    assert not await service.deliver(openid, LONG)
    assert await service.retry_held() == 0 and api.sent == []
    assert await service.retry_held() == 3
    assert api.to(openid) == split(LONG)  # no held-over mark, the continuation marks kept
    assert api.to(openid)[0].endswith(CONTINUED)
    assert await service.retry_held() == 0 and len(api.sent) == 3
    assert _left(state, openid) == ALLOWANCE - 3
    assert await service.follower_wrote(openid) == []


async def test_a_failure_halfway_keeps_the_rest_in_order(new_state: Callable[[], SharedState]) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi()
    service = _service(api, state)
    await service.follower_wrote(openid)
    pieces = split(LONG)
    original = api.send_text

    async def fail_from_the_second(to: str, text: str) -> None:
        if text != pieces[0]:
            api.failures = 1
        await original(to, text)

    api.send_text = fail_from_the_second  # type: ignore[method-assign]
    assert not await service.deliver(openid, LONG)
    api.send_text = original  # type: ignore[method-assign]
    assert await service.retry_held() == 2
    assert api.to(openid) == pieces
    assert _left(state, openid) == ALLOWANCE - 3


async def test_a_new_message_does_not_overtake_one_waiting_to_be_resent(new_state: Callable[[], SharedState]) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi(failures=delivery.SEND_ATTEMPTS)
    service = _service(api, state)
    await service.follower_wrote(openid)
    assert not await service.deliver(openid, "第一条")
    assert await _service(api, new_state()).deliver(openid, "第二条")  # another instance, the API back
    assert api.to(openid) == ["第一条", "第二条"]
    assert await service.retry_held() == 0


async def test_what_goes_back_goes_before_what_was_queued_meanwhile(new_state: Callable[[], SharedState]) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi(failures=float("inf"))
    await _service(api, state).follower_wrote(openid)
    original = api.send_text

    under_way, go_on = asyncio.Event(), asyncio.Event()

    async def held_for_the_first(to: str, text: str) -> None:
        if text == "第一条":
            under_way.set()
            await go_on.wait()
        await original(to, text)

    api.send_text = held_for_the_first  # type: ignore[method-assign]
    first = asyncio.ensure_future(_service(api, state).deliver_pieces(openid, ["第一条", "第二条"]))
    await asyncio.wait_for(under_way.wait(), 10)  # the first delivery is under way when the second fails
    assert not await _service(api, new_state()).deliver(openid, "第三条")
    go_on.set()
    assert not await first  # it fails too, and is put back before the second
    api.failures = 0
    assert await _service(api, new_state()).retry_held() == 3
    assert api.to(openid) == ["第一条", "第二条", "第三条"]


async def test_sweepers_of_two_instances_send_each_message_exactly_once_and_in_order(
    new_state: Callable[[], SharedState],
) -> None:
    state = new_state()
    api = FlakyApi(failures=float("inf"))
    service = _service(api, state)
    followers = [_openid() for _ in range(6)]
    for openid in followers:
        await service.follower_wrote(openid)
        for n in range(1, 4):  # three failed answers each: the follower is in the index three times
            assert not await service.deliver(openid, f"{openid[-4:]} 第{n}条")
    api.failures, api.delay_s = 0, 0.01
    api.calls = 0
    first, second = _service(api, new_state()), _service(api, new_state())
    sweeping = asyncio.ensure_future(first.retry_held())
    while api.calls == 0:  # the first sweeper has drained the index and is sending
        await asyncio.sleep(0.001)
    for openid in followers:  # the same followers indexed again meanwhile (another failure elsewhere)
        await asyncio.to_thread(state.push, RETRY_INDEX, openid, 60)
    counts = await asyncio.gather(sweeping, second.retry_held(), first.retry_held())
    assert sum(counts) == 18 == len(api.sent)
    for openid in followers:
        assert api.to(openid) == [f"{openid[-4:]} 第{n}条" for n in (1, 2, 3)]


async def test_a_message_that_keeps_failing_does_not_hold_up_the_others(new_state: Callable[[], SharedState]) -> None:
    state = new_state()
    stuck, other = _openid(), _openid()
    api = FlakyApi(failures=float("inf"))
    service = _service(api, state)
    for openid in (stuck, other):
        await service.follower_wrote(openid)
        assert not await service.deliver(openid, "答复")
    original = api.send_text

    async def refuse_one(to: str, text: str) -> None:
        api.failures = float("inf") if to == stuck else 0
        await original(to, text)

    api.send_text = refuse_one  # type: ignore[method-assign]
    await service.retry_held()
    await service.retry_held()
    assert api.to(other) == ["答复"] and api.to(stuck) == []


# --- messages that wait for the follower --------------------------------------------------------------------------
async def test_messages_without_allowance_wait_for_the_next_message_not_the_sweeper(
    new_state: Callable[[], SharedState],
) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi()
    service = _service(api, state)
    await service.follower_wrote(openid)
    answer = "\n".join(["请带好身份证原件和户口簿原件。" * 40] * 7)
    assert not await service.deliver(openid, answer)
    assert len(api.sent) == ALLOWANCE
    assert not await service.deliver(openid, "再一条")  # after the two held pieces, and held with them
    await asyncio.to_thread(state.push, RETRY_INDEX, openid, 60)  # even if a failure had put the follower there
    assert await service.retry_held() == 0 and len(api.sent) == ALLOWANCE
    (held,) = await service.follower_wrote(openid)
    assert held.startswith(HELD_OVER) and held.endswith("再一条") and CONTINUED not in held


async def test_a_refusal_for_the_allowance_is_not_resent_by_the_sweeper(new_state: Callable[[], SharedState]) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi(failures=1, errcode=45015)
    service = _service(api, state)
    await service.follower_wrote(openid)  # our count says 5 left, WeChat says none
    assert not await service.deliver(openid, "您的居住证已办好。")
    assert await service.retry_held() == 0 and api.sent == []
    assert await service.follower_wrote(openid) == [HELD_OVER + "\n您的居住证已办好。"]


# --- followers who are gone ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", [40003, 43004, 43019])
async def test_a_message_to_a_follower_who_is_gone_is_dropped(
    new_state: Callable[[], SharedState], code: int, caplog: pytest.LogCaptureFixture
) -> None:
    state, openid = new_state(), _openid()
    api = FlakyApi(failures=float("inf"), errcode=code)
    service = _service(api, state)
    await service.follower_wrote(openid)
    with caplog.at_level(logging.INFO, logger="wechat.delivery"):
        assert not await service.deliver(openid, LONG)
    assert api.calls == 1  # trying again cannot help
    api.failures = 0
    assert await service.retry_held() == 0 and api.sent == []
    assert await service.follower_wrote(openid) == []  # nothing kept for later either
    assert mask_openid(openid) in caplog.text and openid not in caplog.text


# --- against the WeChat API stand-in: wechatpy's own errors -------------------------------------------------------
@pytest.mark.parametrize("fault", [{"errcode": -1}, {"http_status": 503}], ids=["errcode -1", "HTTP 503"])
async def test_the_real_client_failing_then_working(
    standin: StandIn, new_state: Callable[[], SharedState], fault: dict[str, int]
) -> None:
    state, openid = new_state(), _openid()
    api = WeChatApi(dataclasses.replace(PLAIN, api_base_url=standin.base), state)
    service = CustomerService(api, state)
    standin.state.grant(openid)
    await service.follower_wrote(openid)
    standin.state.inject(delivery.SEND_ATTEMPTS, **fault)
    assert not await service.deliver(openid, "您的居住证已办好。")
    assert _left(state, openid) == ALLOWANCE
    assert await service.retry_held() == 1
    sends = [c for c in standin.state.calls if c["api"] == "custom_send" and c["openid"] == openid]
    assert [c["errcode"] for c in sends] == [-1] * delivery.SEND_ATTEMPTS + [0]


# --- the sweep loop -----------------------------------------------------------------------------------------------
@dataclass
class ScriptedSweeps:
    """Stands in for CustomerService.retry_held: raises where the script says so, otherwise sends one."""

    script: list[BaseException | None]
    sweeps: int = 0
    finished: int = 0
    duration_s: float = 0.0

    async def retry_held(self) -> int:
        self.sweeps += 1
        outcome = self.script[self.sweeps - 1] if self.sweeps <= len(self.script) else None
        await asyncio.sleep(self.duration_s)
        self.finished += 1
        if outcome is not None:
            raise outcome
        return 1


async def _run_until(loop: asyncio.Task[None], done: Callable[[], bool]) -> None:
    await eventually(lambda: done() or loop.done(), 20, "the loop's work done")


async def test_the_sweep_loop_outlives_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wechat.delivery")
    sweeps = ScriptedSweeps([RuntimeError("boom"), RuntimeError("boom"), None])
    loop = asyncio.create_task(sweep_forever(sweeps, 0.01))  # type: ignore[arg-type]
    await _run_until(loop, lambda: sweeps.sweeps >= 4)
    assert not loop.done()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    errors = [r for r in caplog.records if r.name == "wechat.delivery" and r.levelno >= logging.WARNING]
    assert len(errors) == 2 and errors[0].exc_info and not errors[1].exc_info  # a traceback once, then one line
    assert "works again" in caplog.text


async def test_the_sweep_loop_outlives_a_dead_redis(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    service = _service(FlakyApi(), RedisState(f"redis://127.0.0.1:{port}/0"))
    calls = 0
    original = service.retry_held

    async def counted() -> int:
        nonlocal calls
        calls += 1
        return await original()

    service.retry_held = counted  # type: ignore[method-assign]
    loop = asyncio.create_task(sweep_forever(service, 0.01))
    await _run_until(loop, lambda: calls >= 3)
    assert not loop.done() and calls >= 3
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    failures = [r for r in caplog.records if r.name == "wechat.delivery" and r.levelno >= logging.WARNING]
    assert len(failures) >= calls - 1 and sum(1 for r in failures if r.exc_info) == 1


async def test_stopping_the_loop_lets_the_sweep_in_hand_finish() -> None:
    sweeps = ScriptedSweeps([], duration_s=0.2)
    loop = asyncio.create_task(sweep_forever(sweeps, 60))  # type: ignore[arg-type]
    await _run_until(loop, lambda: sweeps.sweeps == 1)
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    assert sweeps.finished == 1  # its messages were sent or kept, not lost with the task


# --- the setting --------------------------------------------------------------------------------------------------
def test_the_retry_interval_comes_from_the_environment() -> None:
    assert WeChatSettings.from_env({}).retry_interval_s == 30.0
    assert WeChatSettings.from_env({"WECHAT_RETRY_INTERVAL_S": "5"}).retry_interval_s == 5.0
    for wrong in ("0", "-1", "soon", "nan"):
        with pytest.raises(ValueError, match="WECHAT_RETRY_INTERVAL_S"):
            WeChatSettings.from_env({"WECHAT_RETRY_INTERVAL_S": wrong})
