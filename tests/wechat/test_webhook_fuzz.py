"""Bad input at scale: hostile deliveries (`simulators.wechat.hostile`) between real followers' messages, in plaintext
and safe mode. Nothing may escape the webhook, every 200 carries a reply WeChat can read, and no real message is lost,
doubled or changed.

The rule for turns: a hostile delivery may cause a dialogue turn only if it really is a well-formed WeChat message,
and then at most one, with exactly its sender and its text. Well-formed means wrapped as WeChat wraps a message
(signed with the token and fresh; in safe mode with a true msg_signature over ciphertext of this account's key and
AppID), UTF-8 XML without a DTD, root <xml>, every field plain text given once (no attributes, namespaces or child
elements) in the envelope and in the message, a FromUserName and MsgType that are not blank, an all-digit CreateTime and
an all-digit MsgId if any. The text of the turn is then Content stripped ("？" if empty), a voice note's Recognition
stripped of its final "。", or for a follow, scan or click an intent message ("/…"). `reading` states this rule with
defusedxml and wechatpy's cipher only, independently of the webhook; the webhook may be stricter, never looser.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from simulators.wechat.hostile import Delivery, hostile_deliveries, hostile_delivery
from simulators.wechat.wechat_server import WeChatServer
from wechat.delivery import CustomerService
from wechat.security import signature
from wechat.settings import WeChatSettings
from wechat.state import SqliteState
from wechat.webhook import WeChatWebhook

MODES = {
    "plaintext": WeChatSettings(token="fuzz-token", appid="wx0123456789abcdef", secret="s"),
    "safe mode": WeChatSettings(
        token="fuzz-token",
        appid="wx0123456789abcdef",
        secret="s",
        aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    ),
}
FOLLOWERS = [f"oFollower{n:019d}" for n in range(5)]
TEXTS = ["我想办居住证", "医保卡丢了怎么办？", "a]]>b 也要办", "😀 谢谢", "社保\n两行", "<b>不是标签</b> & 符号"]
ANSWERED = "答："
INTENT = "/…"
"""`Reading.turn` for events: some intent message, whichever the menu key or QR scene maps to."""
_databases = itertools.count()


@dataclass
class Bot:
    """Stands in for Rasa: answers each turn with its own text and records (openid, text)."""

    turns: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, openid: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        self.turns.append((openid, text))
        return [{"text": ANSWERED + text}]


class Api:
    """Stands in for the customer-service API (long answers to hostile texts go out through it)."""

    async def send_text(self, openid: str, text: str) -> None:
        pass


# --- the rule, written independently of the webhook ---------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    """A well-formed message: who sent it, the turn it may cause (None: none) and its MsgId (digits, no leading 0)."""

    sender: str
    turn: str | None
    msg_id: str


def _flat(text: str) -> dict[str, str] | None:
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except Exception:
        return None
    tags = [child.tag for child in root]
    if root.tag != "xml" or len(set(tags)) != len(tags):
        return None
    if any(child.attrib or len(child) or child.tag.startswith("{") for child in root):
        return None
    return {child.tag: (child.text or "").strip() for child in root}


def _signed(settings: WeChatSettings, query: dict[str, str]) -> bool:
    given, stamp, nonce = (query.get(name, "") for name in ("signature", "timestamp", "nonce"))
    try:
        fresh = abs(int(stamp) - int(time.time())) <= settings.timestamp_tolerance_s
    except ValueError:
        return False
    expected = hashlib.sha1("".join(sorted([settings.token, stamp, nonce])).encode()).hexdigest()
    return fresh and all(part.isascii() and part for part in (given, stamp, nonce)) and given.lower() == expected


def reading(settings: WeChatSettings, body: bytes, query: dict[str, str]) -> Reading | None:
    """The message a delivery carries under the rule above; None when the webhook must refuse it."""
    if len(body) > settings.max_body_bytes or not _signed(settings, query):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if settings.safe_mode:
        envelope = _flat(text) if query.get("encrypt_type") == "aes" else None
        if not envelope or "Encrypt" not in envelope:
            return None
        sealed = (settings.token, query["timestamp"], query["nonce"], envelope["Encrypt"])
        if query.get("msg_signature") != hashlib.sha1("".join(sorted(sealed)).encode()).hexdigest():
            return None
        try:
            text = PrpCrypto(base64.b64decode(settings.aes_key + "=")).decrypt(envelope["Encrypt"], settings.appid)
        except Exception:  # bad base64, padding, length, UTF-8 or AppID
            return None
    elif query.get("encrypt_type") == "aes":
        return None
    fields = _flat(text)
    if fields is None:
        return None
    names = ("FromUserName", "MsgType", "CreateTime", "MsgId")
    sender, msg_type, created, msg_id = (fields.get(name, "") for name in names)
    if not (sender and msg_type and created.isascii() and created.isdigit()):
        return None
    if msg_id and not (msg_id.isascii() and msg_id.isdigit()):
        return None
    turn = {"text": fields.get("Content") or "？", "voice": fields.get("Recognition", "").rstrip("。") or None}.get(
        msg_type.lower()
    )
    if msg_type.lower() == "event" and fields.get("Event", "").lower() in {"subscribe", "scan", "click"}:
        turn = INTENT
    return Reading(sender, turn, msg_id.lstrip("0"))


def reply_fields(settings: WeChatSettings, body: str, query: dict[str, str]) -> dict[str, str] | None:
    """A 200's passive reply as fields (None for "success"/empty); the test fails if WeChat could not read it."""
    if body in ("", "success"):
        return None
    root = fromstring(body, forbid_dtd=True)
    if settings.safe_mode:
        envelope = {child.tag: child.text or "" for child in root}
        assert (envelope["TimeStamp"], envelope["Nonce"]) == (query["timestamp"], query["nonce"])
        crypto = WeChatCrypto(settings.token, settings.aes_key, settings.appid)
        root = fromstring(crypto.decrypt_message(body, envelope["MsgSignature"], query["timestamp"], query["nonce"]))
    fields = {child.tag: child.text or "" for child in root}
    assert root.tag == "xml" and fields.keys() == {"ToUserName", "FromUserName", "CreateTime", "MsgType", "Content"}
    assert fields["MsgType"] == "text" and fields["CreateTime"].isdigit() and fields["Content"]
    return fields


# --- driving the webhook ------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One webhook fed hostile and real deliveries; checks each answer as it comes."""

    settings: WeChatSettings
    webhook: WeChatWebhook
    bot: Bot
    wechat: WeChatServer
    sent: dict[str, list[str]] = field(default_factory=lambda: {openid: [] for openid in FOLLOWERS})
    readings: list[Reading] = field(default_factory=list)
    turns_by_msg_id: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    """Of the hostile deliveries."""

    async def hostile(self, delivery: Delivery, *, alone: bool) -> None:
        """One hostile delivery; ``alone`` (nothing else in flight) lets the turns it caused be told apart."""
        body, query = delivery
        expected, before = reading(self.settings, body, query), len(self.bot.turns)
        verified = self.webhook.verify(query | {"echostr": "4242"})
        assert verified.status == (200 if _signed(self.settings, query) else 403)
        answer = await self.webhook.receive(query, body)
        assert answer.status in {200, 400, 403, 413}
        self.statuses[answer.status] += 1
        if len(body) > self.settings.max_body_bytes:
            assert answer.status == 413
        elif expected is None:
            assert answer.status in {400, 403}
        reply = reply_fields(self.settings, answer.body, query) if answer.status == 200 else None
        if reply is not None:
            assert expected is not None and reply["ToUserName"] == expected.sender
        if expected is not None:
            self.readings.append(expected)
        if alone:
            caused = self.bot.turns[before:]
            assert len(caused) <= 1 and (not caused or (expected is not None and _matches(expected, caused[0])))
            assert not caused or answer.status == 200
            if caused and expected and expected.msg_id:
                self.turns_by_msg_id[expected.msg_id] += 1

    async def follower(self, openid: str, text: str, *, retries: int) -> str:
        """A real message, delivered 1 + ``retries`` times as WeChat does when it misses an answer; returns its XML."""
        self.sent[openid].append(text)
        xml = self.wechat.build_xml(openid, "text", Content=text, MsgId=int(self.wechat.new_msg_id()))
        for _ in range(1 + retries):
            await self.again(openid, text, xml)
        return xml

    async def again(self, openid: str, text: str, xml: str) -> None:
        """A delivery of a real message (freshly signed): answered with the first delivery's answer."""
        body, query = self.wechat.envelope(xml, openid)
        answer = await self.webhook.receive(query, body)
        assert answer.status == 200
        reply = reply_fields(self.settings, answer.body, query)
        assert reply is not None and (reply["ToUserName"], reply["Content"]) == (openid, ANSWERED + text)

    async def check(self) -> None:
        """Each real message made exactly one turn, in order; every other turn is accounted for."""
        await self.webhook.drain()
        for openid, texts in self.sent.items():
            assert [text for sender, text in self.bot.turns if sender == openid] == texts
        unclaimed = list(self.readings)
        for turn in (turn for turn in self.bot.turns if turn[0] not in self.sent):
            match = next((r for r in unclaimed if r.turn != INTENT and _matches(r, turn)), None)
            match = match or next((r for r in unclaimed if _matches(r, turn)), None)
            assert match is not None, f"a turn no well-formed message asked for: {turn!r}"
            unclaimed.remove(match)
        assert all(count == 1 for count in self.turns_by_msg_id.values())  # one MsgId, one turn


def _matches(expected: Reading, turn: tuple[str, str]) -> bool:
    sender, text = turn
    wanted = expected.turn
    if sender != expected.sender or wanted is None:
        return False
    return text == wanted or (wanted == INTENT and text.startswith("/"))


def _run(mode: str, tmp_path: Path) -> Run:
    """A webhook as the channel builds it (embedded state in ``tmp_path``), with the recording bot."""
    settings, state, bot = MODES[mode], SqliteState(tmp_path / f"state{next(_databases)}.db"), Bot()
    webhook = WeChatWebhook(settings, state, CustomerService(Api(), state), bot)  # type: ignore[arg-type]
    return Run(settings, webhook, bot, WeChatServer("http://127.0.0.1:9/unused", settings))


# --- the fuzz -----------------------------------------------------------------------------------------------------
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
REAL = st.lists(st.tuples(st.sampled_from(FOLLOWERS[:3]), st.sampled_from(TEXTS), st.integers(0, 2)), max_size=6)


@pytest.mark.parametrize("mode", MODES)
@FUZZ
@given(data=st.data())
async def test_hostile_deliveries_between_real_messages(mode: str, tmp_path: Path, data: st.DataObject) -> None:
    run = _run(mode, tmp_path)
    hostile = data.draw(st.lists(hostile_delivery(run.settings), min_size=1, max_size=8), label="hostile")
    real = data.draw(REAL, label="real (follower, text, retries)")
    late: list[tuple[str, str, str]] = []  # retries that come after other deliveries
    for index in range(max(len(hostile), len(real))):
        if index < len(hostile):
            await run.hostile(hostile[index], alone=True)
        if index < len(real):
            openid, text, retries = real[index]
            xml = await run.follower(openid, text, retries=min(retries, 1))
            late += [(openid, text, xml)] * (retries == 2)
    for openid, text, xml in late:
        await run.again(openid, text, xml)
    await run.check()


async def _one_by_one(run: Run, batch: list[Delivery]) -> None:
    for index, delivery in enumerate(batch):
        await run.hostile(delivery, alone=True)
        if index % 20 == 0:
            openid = FOLLOWERS[index // 20 % len(FOLLOWERS)]
            await run.follower(openid, TEXTS[index % len(TEXTS)], retries=index % 3)


async def _fifty_at_a_time(run: Run, batch: list[Delivery]) -> None:
    slots = asyncio.Semaphore(50)

    async def hostile(delivery: Delivery) -> None:
        async with slots:
            await run.hostile(delivery, alone=False)

    async def follower(openid: str) -> None:  # one follower's messages come one after another, as in WeChat
        for n in range(20):
            await run.follower(openid, TEXTS[n % len(TEXTS)], retries=n % 3)

    await asyncio.gather(*map(hostile, batch), *map(follower, FOLLOWERS))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("schedule", [_one_by_one, _fifty_at_a_time], ids=["one by one", "fifty at a time"])
async def test_two_thousand_hostile_deliveries_among_a_hundred_real_messages(
    mode: str, schedule: Callable[[Run, list[Delivery]], Awaitable[None]], tmp_path: Path
) -> None:
    run = _run(mode, tmp_path)
    await schedule(run, hostile_deliveries(run.settings, 2000, seed=2024))
    await run.check()
    assert sum(len(texts) for texts in run.sent.values()) == 100
    # The batch reaches every stage: refusals of each kind, and well-formed hostile messages answered and turned.
    assert run.statuses.keys() == {200, 400, 403, 413} and run.statuses[200] >= 50
    assert len(run.bot.turns) - 100 >= 25


# --- what the fuzz found, each pinned by name --------------------------------------------------------------------
SENDER = "oHostile0000000000000000001"


def _message(sender: str = f"<![CDATA[{SENDER}]]>", created: str = "", kind: str = "text", rest: str = "") -> str:
    rest = rest or "<Content><![CDATA[我想办居住证]]></Content><MsgId>1234567</MsgId>"
    return (
        f"<xml><ToUserName><![CDATA[gh_jiujin0000000]]></ToUserName><FromUserName>{sender}</FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>{rest}</xml>"
    )


async def _post(run: Run, xml: str) -> tuple[int, dict[str, str] | None]:
    body, query = run.wechat.envelope(xml, SENDER)
    answer = await run.webhook.receive(query, body)
    return answer.status, reply_fields(run.settings, answer.body, query) if answer.status == 200 else None


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "xml",
    [
        _message(rest="<Content>你好</Content><MsgId>1.5</MsgId>"),
        _message(rest="<Content>你好</Content><MsgId>" + "9" * 5000 + "</MsgId>"),
        _message(created="²³", kind="event", rest="<Event>CLICK</Event><EventKey>PROGRESS</EventKey>"),
        _message(sender=f"{SENDER}</FromUserName><FromUserName>oFollower0000000000000000000"),
        _message(rest="<Content>一</Content><Content>二</Content><MsgId>1234567</MsgId>"),
        _message(rest="<Content><b>你好</b></Content><MsgId>1234567</MsgId>"),
        _message(rest='<Content lang="zh">你好</Content><MsgId>1234567</MsgId>'),
        _message(rest='<Content xmlns="urn:x">你好</Content><MsgId>1234567</MsgId>'),
        _message(rest="<Content>你好</Content><MsgId>" + "<a>" * 1100 + "1" + "</a>" * 1100 + "</MsgId>"),
        _message(sender="<![CDATA[ ]]>"),
    ],
    ids=[
        "msg id not a number (ValueError)",
        "msg id past int's 4300 digits (ValueError)",
        "create time in non-ASCII digits (ValueError)",
        "repeated sender (a turn for a list of OpenIDs)",
        "repeated content (AttributeError)",
        "nested content (TypeError)",
        "content with an attribute (TypeError)",
        "content in a namespace (TypeError)",
        "deeply nested msg id (RecursionError)",
        "blank sender (a turn for no OpenID)",
    ],
)
async def test_a_field_of_the_wrong_shape_is_refused_not_raised(mode: str, xml: str, tmp_path: Path) -> None:
    run = _run(mode, tmp_path)
    assert await _post(run, xml) == (400, None)
    assert run.bot.turns == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("content", ["<Content></Content>", "<Content><![CDATA[]]></Content>", ""])
async def test_an_empty_text_is_a_turn_not_an_attribute_error(mode: str, content: str, tmp_path: Path) -> None:
    run = _run(mode, tmp_path)
    status, reply = await _post(run, _message(rest=f"{content}<MsgId>1234567</MsgId>"))
    assert status == 200 and reply is not None and run.bot.turns == [(SENDER, "？")]


@pytest.mark.parametrize("mode", MODES)
async def test_a_sender_with_a_cdata_end_still_gets_a_well_formed_reply(mode: str, tmp_path: Path) -> None:
    run = _run(mode, tmp_path)
    status, reply = await _post(run, _message(sender="<![CDATA[a]]]]><![CDATA[>b]]>"))
    assert status == 200 and reply is not None and reply["ToUserName"] == "a]]>b"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "query",
    [{"signature": "é" * 40}, {"timestamp": "9" * 400}],
    ids=["non-ASCII signature (TypeError)", "timestamp no float can hold (OverflowError)"],
)
async def test_a_non_ascii_or_overlong_query_is_refused_not_raised(
    mode: str, query: dict[str, str], tmp_path: Path
) -> None:
    run = _run(mode, tmp_path)
    body, signed = run.wechat.envelope(_message(), SENDER)
    if "timestamp" in query:  # signed as given, so the timestamp's own check is reached
        query = query | {"signature": signature(run.settings.token, query["timestamp"], signed["nonce"])}
    assert run.webhook.verify(signed | query).status == 403
    assert (await run.webhook.receive(signed | query, body)).status == 403


@pytest.mark.parametrize(
    ("declaration", "sender", "expected"),
    [
        ("x-no-such", SENDER, (200, [(SENDER, "我想办居住证")])),  # LookupError, parsed from bytes
        ("latin-1", "\u00a0", (400, [])),  # the check read "Â\xa0", wechatpy read a blank: a turn for no OpenID
    ],
    ids=["unknown encoding", "lying encoding"],
)
async def test_an_encoding_declaration_is_ignored_the_body_is_utf8(
    declaration: str, sender: str, expected: tuple[int, list[tuple[str, str]]], tmp_path: Path
) -> None:
    run = _run("plaintext", tmp_path)
    xml = f'<?xml version="1.0" encoding="{declaration}"?>' + _message(sender=sender)
    status, _ = await _post(run, xml)
    assert (status, run.bot.turns) == expected
