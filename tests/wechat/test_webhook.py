"""The webhook's logic without Rasa: what WeChat sends (built and encrypted with wechatpy's own crypto) and what the
webhook answers, with a scripted dialogue turn and a recording customer-service API."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import WeChatClientException

from tests.waiting import eventually
from wechat.delivery import ALLOWANCE, HELD_OVER, CustomerService, _allowance_key
from wechat.inbound import ONLY_TEXT_AND_VOICE, VOICE_NOT_UNDERSTOOD
from wechat.security import signature
from wechat.settings import WeChatSettings
from wechat.state import RedisState, SqliteState
from wechat.text import CONTINUED, TEXT_LIMIT_BYTES
from wechat.webhook import ACKNOWLEDGEMENT, WeChatWebhook, delivery_key

TOKEN, APPID = "jiujin-test-token", "wx0123456789abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oJiujinTestFollower000000001"
_ids = itertools.count(6_000_000_000_000_000_000)


@dataclass
class RecordingApi:
    """Stands in for WeChatApi.send_text; can refuse like WeChat does when the allowance is used up."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    refuse_with: int | None = None

    async def send_text(self, openid: str, text: str) -> None:
        if self.refuse_with is not None:
            raise WeChatClientException(self.refuse_with, "refused")
        self.sent.append((openid, text))


@dataclass
class ScriptedBot:
    """Stands in for Rasa: answers each text with one message and records every turn; with a ``gate``, a turn
    answers only once the gate is set (a turn the test holds up while it is under way)."""

    answer: str = "您好，请问您要办什么？"
    delay_s: float = 0.0
    gate: asyncio.Event | None = None
    turns: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, openid: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        self.turns.append((openid, text, metadata))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay_s)
        return [{"recipient_id": openid, "text": self.answer}]


@dataclass
class Wire:
    """Builds requests exactly as WeChat's servers do (plaintext or safe mode)."""

    aes_key: str = ""

    def query(self, timestamp: int | None = None, token: str = TOKEN) -> dict[str, str]:
        stamp, nonce = str(timestamp or int(time.time())), str(next(_ids) % 10**9)
        return {"signature": signature(token, stamp, nonce), "timestamp": stamp, "nonce": nonce, "openid": OPENID}

    def xml(self, msg_type: str, *, msg_id: int | None = None, created: int | None = None, **fields: str) -> str:
        body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
        ident = "" if msg_type == "event" else f"<MsgId>{msg_id or next(_ids)}</MsgId>"
        return (
            f"<xml><ToUserName><![CDATA[gh_jiujin000000]]></ToUserName><FromUserName><![CDATA[{OPENID}]]>"
            f"</FromUserName><CreateTime>{created or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>{body}{ident}</xml>"
        )

    def request(self, xml: str, **query_overrides: str) -> tuple[dict[str, str], bytes]:
        query = self.query()
        if self.aes_key:
            encrypted = WeChatCrypto(TOKEN, self.aes_key, APPID).encrypt_message(
                xml, query["nonce"], query["timestamp"]
            )
            query |= {"encrypt_type": "aes", "msg_signature": _cdata(encrypted, "MsgSignature")}
            xml = (
                "<xml><ToUserName><![CDATA[gh_jiujin000000]]></ToUserName>"
                f"<Encrypt><![CDATA[{_cdata(encrypted, 'Encrypt')}]]></Encrypt></xml>"
            )
        return query | query_overrides, xml.encode()

    def read_reply(self, body: str) -> Any:
        if self.aes_key:
            stamp, nonce = _cdata(body, "TimeStamp"), _cdata(body, "Nonce")
            body = WeChatCrypto(TOKEN, self.aes_key, APPID).decrypt_message(
                body, _cdata(body, "MsgSignature"), stamp, nonce
            )
        return parse_message(body)


def _cdata(xml: str, tag: str) -> str:
    inner = xml.split(f"<{tag}>")[1].split(f"</{tag}>")[0]
    return inner.removeprefix("<![CDATA[").removesuffix("]]>")


@dataclass
class Harness:
    webhook: WeChatWebhook
    bot: ScriptedBot
    api: RecordingApi
    wire: Wire

    async def send(self, xml: str) -> tuple[int, Any]:
        status, body = await self.post(*self.wire.request(xml))
        return status, (self.wire.read_reply(body) if body not in ("", "success") and status == 200 else body)

    async def post(self, query: dict[str, str], body: bytes) -> tuple[int, str]:
        reply = await self.webhook.receive(query, body)
        return reply.status, reply.body


def _harness(tmp_path: Path, *, aes_key: str = "", budget_s: float = 2.0, state: Any = None, **bot: Any) -> Harness:
    settings = WeChatSettings(token=TOKEN, appid=APPID, aes_key=aes_key, secret="s", reply_budget_s=budget_s)
    shared = state or SqliteState(tmp_path / "state.db")
    api, scripted = RecordingApi(), ScriptedBot(**bot)
    webhook = WeChatWebhook(settings, shared, CustomerService(api, shared), scripted)  # type: ignore[arg-type]
    return Harness(webhook, scripted, api, Wire(aes_key))


@pytest.fixture(params=["plaintext", "safe mode"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return _harness(tmp_path, aes_key=AES_KEY if request.param == "safe mode" else "")


# --- verification and refusals -----------------------------------------------------------------------------------
def test_url_verification_echoes_only_for_a_true_signature(tmp_path: Path) -> None:
    webhook = _harness(tmp_path).webhook
    good = Wire().query() | {"echostr": "7254920348"}
    assert (webhook.verify(good).status, webhook.verify(good).body) == (200, "7254920348")
    assert webhook.verify(Wire().query(token="forged") | {"echostr": "1"}).status == 403
    assert webhook.verify(Wire().query(timestamp=int(time.time()) - 3600) | {"echostr": "1"}).status == 403


async def test_forged_stale_and_hostile_requests_are_refused_and_nothing_runs(harness: Harness) -> None:
    wire, xml = harness.wire, harness.wire.xml("text", Content="我想办居住证")
    query, body = wire.request(xml)
    forged = query | {"signature": signature("not-the-token", query["timestamp"], query["nonce"])}
    assert (await harness.post(forged, body))[0] == 403
    assert (await harness.post({k: v for k, v in query.items() if k != "signature"}, body))[0] == 403
    stale_query, stale_body = wire.request(xml)
    stale = int(stale_query["timestamp"]) - 3600
    stale_query |= {"timestamp": str(stale), "signature": signature(TOKEN, str(stale), stale_query["nonce"])}
    assert (await harness.post(stale_query, stale_body))[0] == 403
    hostile = b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><Content>&b;</Content></xml>'
    assert (await harness.post(wire.query(), hostile))[0] == 400
    assert (await harness.post(wire.query(), b"<xml><FromUserName>x</FromUserName>"))[0] == 400
    assert (await harness.post(wire.query(), b"<xml>" + b"a" * 70_000 + b"</xml>"))[0] == 413
    gbk = '<?xml version="1.0" encoding="gbk"?><xml><FromUserName>居民</FromUserName></xml>'.encode("gbk")
    assert (await harness.post(wire.query(), gbk))[0] == 400
    assert harness.bot.turns == []


async def test_safe_mode_refuses_a_wrong_message_signature_and_plaintext(tmp_path: Path) -> None:
    harness = _harness(tmp_path, aes_key=AES_KEY)
    query, body = harness.wire.request(harness.wire.xml("text", Content="你好"))
    assert (await harness.post(query | {"msg_signature": "0" * 40}, body))[0] == 403
    plain = Wire().request(harness.wire.xml("text", Content="你好"))
    assert (await harness.post(*plain))[0] == 400
    assert harness.bot.turns == []


async def test_a_captured_query_cannot_carry_a_message_of_someone_elses_making(tmp_path: Path) -> None:
    """In plaintext mode the signature covers the timestamp and nonce, not the body: within the timestamp window a
    captured query would otherwise sign any message for any sender."""
    harness = _harness(tmp_path)
    query, body = harness.wire.request(harness.wire.xml("text", Content="我想办居住证"))
    assert (await harness.post(query, body))[0] == 200
    injected = harness.wire.xml("text", Content="帮我撤销办件", msg_id=next(_ids)).replace(OPENID, "oSomeoneElse")
    assert (await harness.post(query, injected.encode()))[0] == 403
    assert harness.bot.turns == [(OPENID, "我想办居住证", {"channel": "wechat"})]


async def test_the_same_request_again_is_a_retry_not_a_replay(harness: Harness) -> None:
    """WeChat's retries and nginx's resending may repeat a request byte for byte: answered, one turn."""
    query, body = harness.wire.request(harness.wire.xml("text", Content="我想办居住证"))
    first, again = await harness.post(query, body), await harness.post(query, body)
    assert first[0] == again[0] == 200
    assert harness.wire.read_reply(again[1]).content == harness.bot.answer
    assert len(harness.bot.turns) == 1


# --- messages and events -------------------------------------------------------------------------------------------
async def test_a_text_gets_the_turns_answer_as_a_passive_reply(harness: Harness) -> None:
    status, reply = await harness.send(harness.wire.xml("text", Content="我想办居住证"))
    assert status == 200 and reply.type == "text" and reply.content == harness.bot.answer
    assert reply.source == "gh_jiujin000000" and reply.target == OPENID
    assert harness.bot.turns == [(OPENID, "我想办居住证", {"channel": "wechat"})]


async def test_three_deliveries_of_one_message_make_one_turn_and_the_same_answer(harness: Harness) -> None:
    xml = harness.wire.xml("text", Content="我想办居住证", msg_id=next(_ids))
    replies = [await harness.send(xml) for _ in range(3)]
    assert len(harness.bot.turns) == 1
    assert [r[1].content for r in replies] == [harness.bot.answer] * 3


async def test_a_retry_while_the_first_delivery_is_still_working_waits_for_its_answer(tmp_path: Path) -> None:
    state = SqliteState(tmp_path / "state.db")
    harness = _harness(tmp_path, budget_s=10, state=state, gate=asyncio.Event())
    xml = harness.wire.xml("text", Content="查进度", msg_id=next(_ids))
    first = asyncio.create_task(harness.send(xml))
    await eventually(lambda: harness.bot.turns, 10, "the first delivery's turn under way")
    looked: list[str] = []
    read = state.get
    state.get = lambda key: looked.append(key) or read(key)  # type: ignore[method-assign]
    retry = asyncio.create_task(harness.send(xml))
    await eventually(lambda: delivery_key(parse_message(xml)) in looked, 10, "the retry finding the first at work")
    harness.bot.gate.set()
    _, retried = await retry
    assert retried.content == (await first)[1].content == harness.bot.answer
    assert len(harness.bot.turns) == 1


async def test_a_retry_of_a_delivery_answered_with_nothing_gets_success_at_once(tmp_path: Path) -> None:
    harness = _harness(tmp_path, budget_s=10)
    unfollow = harness.wire.xml("event", Event="unsubscribe", created=int(time.time()) - 3)
    assert await harness.send(unfollow) == (200, "success")
    started = time.monotonic()
    assert await harness.send(unfollow) == (200, "success")
    assert time.monotonic() - started < 5  # not a wait for the budget (10 s)


@pytest.mark.parametrize(
    ("event", "key", "turn"),
    [
        ("subscribe", "", "/follow"),
        ("CLICK", "DEPT_medical_insurance", '/browse_department{"department": "医保"}'),
        ("CLICK", "PROGRESS", "/check_progress"),
        ("CLICK", "TAKE_NUMBER", "/take_number"),
        ("SCAN", "item_residence_permit", '/request_item{"item": "residence_permit"}'),
        ("SCAN", "queue", "/take_number"),
    ],
)
async def test_events_become_turns(tmp_path: Path, event: str, key: str, turn: str) -> None:
    harness = _harness(tmp_path)
    fields = {"Event": event} | ({"EventKey": key} if key else {})
    status, reply = await harness.send(harness.wire.xml("event", **fields))
    assert status == 200 and reply.content == harness.bot.answer
    assert harness.bot.turns[0][1] == turn


async def test_opening_a_menu_link_is_no_turn_and_opens_no_allowance(tmp_path: Path) -> None:
    """WeChat allows customer-service messages after a follower writes, clicks, follows or scans, not after VIEW."""
    harness = _harness(tmp_path)
    status, body = await harness.send(harness.wire.xml("event", Event="VIEW", EventKey="https://example.org/guide"))
    assert (status, body) == (200, "success") and harness.bot.turns == []
    assert harness.webhook.state.get(_allowance_key(OPENID)) is None


async def test_a_repeated_event_is_one_turn_and_unsubscribe_is_none(tmp_path: Path) -> None:
    harness = _harness(tmp_path)
    click = harness.wire.xml("event", Event="CLICK", EventKey="PROGRESS", created=int(time.time()) - 5)
    await harness.send(click)
    await harness.send(click)
    assert len(harness.bot.turns) == 1
    assert await harness.send(harness.wire.xml("event", Event="unsubscribe")) == (200, "success")
    assert len(harness.bot.turns) == 1


async def test_voice_uses_wechats_recognition_or_asks_to_type(tmp_path: Path) -> None:
    harness = _harness(tmp_path)
    _, reply = await harness.send(harness.wire.xml("voice", MediaId="m1", Format="amr", Recognition="我想办居住证。"))
    assert reply.content == harness.bot.answer
    assert harness.bot.turns[-1][1:] == ("我想办居住证", {"channel": "wechat", "heard_by": "wechat"})
    _, reply = await harness.send(harness.wire.xml("voice", MediaId="m2", Format="amr"))
    assert reply.content == VOICE_NOT_UNDERSTOOD and len(harness.bot.turns) == 1


async def test_voice_without_recognition_goes_through_our_recognizer_when_configured(tmp_path: Path) -> None:
    harness = _harness(tmp_path)
    heard: list[str] = []

    async def recognize(media_id: str) -> str:
        heard.append(media_id)
        return "医保卡丢了"

    harness.webhook.recognize = recognize
    _, reply = await harness.send(harness.wire.xml("voice", MediaId="media-7", Format="amr"))
    assert heard == ["media-7"] and reply.content == harness.bot.answer
    assert harness.bot.turns[-1][1:] == ("医保卡丢了", {"channel": "wechat", "heard_by": "jiujin"})


async def test_pictures_get_a_polite_request_for_text(tmp_path: Path) -> None:
    harness = _harness(tmp_path)
    _, reply = await harness.send(harness.wire.xml("image", PicUrl="http://x/y.jpg", MediaId="p1"))
    assert reply.content == ONLY_TEXT_AND_VOICE and harness.bot.turns == []


# --- the 5-second rule and the allowance ---------------------------------------------------------------------------
async def test_a_slow_turn_is_acknowledged_in_time_and_delivered_by_customer_service(tmp_path: Path) -> None:
    harness = _harness(tmp_path, budget_s=0.5, gate=asyncio.Event())  # the turn answers when the test lets it
    started = time.monotonic()
    _, reply = await harness.send(harness.wire.xml("text", Content="我想办居住证"))
    assert reply.content == ACKNOWLEDGEMENT and time.monotonic() - started < 0.5 + 2  # the budget, not the turn
    assert harness.api.sent == []
    harness.bot.gate.set()
    await harness.webhook.drain()
    assert harness.api.sent == [(OPENID, harness.bot.answer)]


async def test_when_wechat_hangs_up_first_the_answer_still_reaches_the_follower(tmp_path: Path) -> None:
    # WeChat gives up after 5 s and closes the connection; Sanic then cancels the request's handler.
    harness = _harness(tmp_path, budget_s=2.0, gate=asyncio.Event())
    xml = harness.wire.xml("text", Content="我想办居住证")
    handler = asyncio.ensure_future(harness.send(xml))
    await eventually(lambda: harness.bot.turns, 10, "the turn under way")
    handler.cancel()  # hung up before the acknowledgement
    with pytest.raises(asyncio.CancelledError):
        await handler
    # The turn outlasts the budget: the acknowledgement is stored for the retry, the answer goes out later.
    key = delivery_key(parse_message(xml))
    await eventually(lambda: harness.webhook.state.get(key) == json.dumps(ACKNOWLEDGEMENT), 10, "the acknowledgement")
    harness.bot.gate.set()
    await harness.webhook.drain()
    assert harness.api.sent == [(OPENID, harness.bot.answer)]  # the late answer went out anyway
    _, reply = await harness.send(xml)  # WeChat's retry: what the first delivery answered, and no second turn
    assert reply.content == ACKNOWLEDGEMENT and len(harness.bot.turns) == 1


async def test_when_wechat_hangs_up_on_a_quick_turn_its_retry_gets_the_answer(tmp_path: Path) -> None:
    harness = _harness(tmp_path, budget_s=10, gate=asyncio.Event())
    xml = harness.wire.xml("text", Content="我想办居住证")
    handler = asyncio.ensure_future(harness.send(xml))
    await eventually(lambda: harness.bot.turns, 10, "the turn under way")
    handler.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handler
    harness.bot.gate.set()  # the turn answers within the budget
    await harness.webhook.drain()
    _, reply = await harness.send(xml)
    assert reply.content == harness.bot.answer and len(harness.bot.turns) == 1 and harness.api.sent == []


async def test_recognising_a_voice_note_counts_against_the_reply_budget(tmp_path: Path) -> None:
    harness = _harness(tmp_path, budget_s=0.5, delay_s=0.3)  # the turn alone would fit the budget

    async def slow_recognition(media_id: str) -> str:
        await asyncio.sleep(0.4)
        return "医保卡丢了"

    harness.webhook.recognize = slow_recognition
    _, reply = await harness.send(harness.wire.xml("voice", MediaId="media-8", Format="amr"))
    assert reply.content == ACKNOWLEDGEMENT  # a budget started after recognition would have held the answer
    await harness.webhook.drain()
    assert harness.api.sent == [(OPENID, harness.bot.answer)]


async def test_long_answers_are_split_and_the_allowance_is_respected(tmp_path: Path) -> None:
    paragraph = "请带好身份证原件和户口簿原件。" * 40  # ~1,200 bytes
    harness = _harness(tmp_path, answer="\n".join([paragraph] * 9))  # ~11 KB: 1 passive + 6 more pieces
    _, reply = await harness.send(harness.wire.xml("text", Content="要带什么"))
    await harness.webhook.drain()
    assert len(reply.content.encode()) <= TEXT_LIMIT_BYTES
    assert len(harness.api.sent) == ALLOWANCE  # the sixth piece waits for the follower's next message
    assert not any(CONTINUED + CONTINUED in text for _, text in harness.api.sent)
    harness.bot.answer = "好的"
    _, reply = await harness.send(harness.wire.xml("text", Content="好"))
    await harness.webhook.drain()
    assert reply.content.startswith(HELD_OVER) and paragraph[:20] in reply.content
    assert harness.api.sent[-1][1].endswith("好的")  # the held piece first, then this turn's answer


async def test_unfollowing_drops_what_was_held(tmp_path: Path) -> None:
    harness = _harness(tmp_path, budget_s=0.05, delay_s=0.2)
    harness.api.refuse_with = 45047
    await harness.send(harness.wire.xml("text", Content="我想办居住证"))
    await harness.webhook.drain()
    assert await harness.send(harness.wire.xml("event", Event="unsubscribe")) == (200, "success")
    harness.api.refuse_with, harness.bot.delay_s = None, 0
    _, reply = await harness.send(harness.wire.xml("event", Event="subscribe"))
    assert reply.content == harness.bot.answer  # a new follow starts clean


async def test_a_refusal_from_wechat_keeps_the_message_for_later(tmp_path: Path) -> None:
    harness = _harness(tmp_path, budget_s=0.05, delay_s=0.2)
    harness.api.refuse_with = 45047
    await harness.send(harness.wire.xml("text", Content="我想办居住证"))
    await harness.webhook.drain()
    assert harness.api.sent == []
    harness.api.refuse_with, harness.bot.delay_s = None, 0
    _, reply = await harness.send(harness.wire.xml("text", Content="在吗"))
    assert reply.content.startswith(HELD_OVER) and harness.bot.answer in reply.content


async def test_without_its_shared_state_the_webhook_still_answers(tmp_path: Path) -> None:
    harness = _harness(tmp_path, state=RedisState("redis://127.0.0.1:1/0"))  # nothing listens on port 1
    status, reply = await harness.send(harness.wire.xml("text", Content="你好"))
    assert status == 200 and reply.content == harness.bot.answer


_TAGS = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "Encrypt"])
_FIELD = st.tuples(_TAGS, st.text(max_size=40)).map(lambda f: f"<{f[0]}><![CDATA[{f[1]}]]></{f[0]}>")
_BODIES = st.one_of(
    st.binary(max_size=300),
    st.lists(_FIELD, max_size=8).map(lambda fields: ("<xml>" + "".join(fields) + "</xml>").encode("utf-8", "replace")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_BODIES)
async def test_whatever_arrives_signed_the_webhook_answers_without_crashing(harness: Harness, body: bytes) -> None:
    status, _ = await harness.post(harness.wire.query(), body)
    assert status in {200, 400, 403, 413}
