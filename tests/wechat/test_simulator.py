"""The WeChat simulator over real loopback HTTP and real crypto: signatures, safe mode, retries, the API stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Request, Sanic
from sanic.response import HTTPResponse, text
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.utils import check_signature

from simulators.wechat.server import create_app
from simulators.wechat.wechat_server import ORIGINAL_ID, SERVICE_UNAVAILABLE, WeChatServer
from tests.wechat.conftest import OPENID, PLAIN, SAFE, StandIn, StandInClient, call, serving
from wechat.settings import WeChatSettings

_names = itertools.count()

# -- a webhook that checks what the simulator sends, the way the real one must ------------------------------


@dataclass
class Received:
    query: dict[str, str]
    body: bytes
    xml: str  # decrypted in safe mode
    message: Any  # wechatpy's parsed message


@dataclass
class FakeWebhook:
    """Verifies and decrypts like a real webhook; `behave(attempt)` → (delay s, status, reply text or None)."""

    settings: WeChatSettings
    behave: Callable[[int], tuple[float, int, str | None]] = lambda attempt: (0.0, 200, "echo")
    received: list[Received] = field(default_factory=list)

    def app(self) -> Sanic:
        app = Sanic(f"fake_webhook_{next(_names)}")
        app.add_route(self.handle, "/webhook", methods=["POST"])
        return app

    async def handle(self, request: Request) -> HTTPResponse:
        query = {name: request.args.get(name) for name in request.args}
        check_signature(self.settings.token, query["signature"], query["timestamp"], query["nonce"])
        xml = request.body
        crypto = None
        if self.settings.safe_mode:
            crypto = WeChatCrypto(self.settings.token, self.settings.aes_key, self.settings.appid)
            assert query["encrypt_type"] == "aes"
            xml = crypto.decrypt_message(request.body, query["msg_signature"], query["timestamp"], query["nonce"])
        message = parse_message(xml)
        self.received.append(Received(query, request.body, xml if isinstance(xml, str) else xml.decode(), message))
        delay, status, reply = self.behave(len(self.received))
        await asyncio.sleep(delay)
        if reply is None:
            return text("success", status=status)
        rendered = create_reply(f"收到：{getattr(message, 'content', message.type)}", message).render()
        if crypto is not None:
            rendered = crypto.encrypt_message(rendered, "replynonce", query["timestamp"])
        return text(rendered, status=status, content_type="application/xml")


@contextlib.asynccontextmanager
async def webhook(settings: WeChatSettings, **kwargs: Any) -> AsyncIterator[tuple[FakeWebhook, str]]:
    fake = FakeWebhook(settings, **kwargs)
    async with serving(fake.app()) as base:
        yield fake, f"{base}/webhook"


# -- the simulated WeChat servers -----------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [PLAIN, SAFE], ids=["plaintext", "safe"])
async def test_messages_are_signed_encrypted_and_parse_as_wechat_messages(settings: WeChatSettings) -> None:
    inbound: list[str] = []
    async with webhook(settings) as (fake, url):
        wechat = WeChatServer(url, settings, on_inbound=inbound.append)
        text_delivery = await wechat.send_text(OPENID, "我想办医保 <&> 卡")
        voice_delivery = await wechat.send_voice(OPENID, recognition="查一下进度", media=b"#!AMR\n")
        await wechat.send_image(OPENID)
        event_delivery = await wechat.send_event(OPENID, "subscribe", "counter_1")
        await wechat.send_event(OPENID, "unsubscribe")

    text_message, voice, image, subscribe, unsubscribe = (r.message for r in fake.received)
    assert (text_message.type, text_message.content) == ("text", "我想办医保 <&> 卡")
    assert (text_message.source, text_message.target) == (OPENID, ORIGINAL_ID)
    assert str(text_message.id) == text_delivery.msg_id
    assert (voice.type, voice.recognition, voice.format) == ("voice", "查一下进度", "amr")
    assert wechat.media_store[voice.media_id] == b"#!AMR\n"
    assert str(voice.id) == voice_delivery.msg_id != text_delivery.msg_id
    assert image.type == "image" and image.media_id in wechat.media_store and image.image
    assert (subscribe.type, subscribe.event, subscribe.scene_id) == ("event", "subscribe_scan", "counter_1")
    assert event_delivery.msg_id is None and "MsgId" not in fake.received[3].xml
    assert unsubscribe.event == "unsubscribe"
    if settings.safe_mode:
        assert all(b"<Encrypt>" in r.body and b"<ToUserName>" in r.body for r in fake.received)
        assert all(b"FromUserName" not in r.body for r in fake.received)
    # Quota granted for the three user messages and the subscription, not for unsubscribing.
    assert inbound == [OPENID] * 4
    assert text_delivery.reply is not None and text_delivery.reply["MsgType"] == "text"
    assert text_delivery.shown_to_user == "收到：我想办医保 <&> 卡"
    assert voice_delivery.shown_to_user == "收到：voice"
    assert [a.status for a in text_delivery.attempts] == [200]


async def test_signed_query_verifies_and_a_wrong_token_does_not() -> None:
    wechat = WeChatServer("http://127.0.0.1:9/unused", PLAIN)
    query = wechat.signed_query(timestamp="1700000000", nonce="123456")
    check_signature(PLAIN.token, query["signature"], "1700000000", "123456")
    forged = wechat.signed_query(token="not-the-token")
    with pytest.raises(InvalidSignatureException):
        check_signature(PLAIN.token, forged["signature"], forged["timestamp"], forged["nonce"])
    xml = wechat.build_xml(OPENID, "text", Content="你好 ]]> <xml>", MsgId=1, CreateTime=1700000000)
    message = parse_message(xml)
    assert (message.content, message.create_time.timestamp()) == ("你好 ]]> <xml>", 1700000000)


async def test_a_reply_wechat_cannot_parse_is_a_failure_without_retry() -> None:
    # wechatpy's reply renderer puts "]]>" raw inside CDATA: the reply is broken XML and WeChat shows the notice.
    async with webhook(PLAIN) as (fake, url):
        delivery = await WeChatServer(url, PLAIN).send_text(OPENID, "a ]]> b")
    assert len(fake.received) == 1 and fake.received[0].message.content == "a ]]> b"
    assert delivery.attempts[0].status == 200 and "not XML" in (delivery.attempts[0].error or "")
    assert (delivery.reply, delivery.shown_to_user) == (None, SERVICE_UNAVAILABLE)


@pytest.mark.parametrize("settings", [PLAIN, SAFE], ids=["plaintext", "safe"])
async def test_slow_webhook_gets_the_same_message_three_times(settings: WeChatSettings) -> None:
    def behave(attempt: int) -> tuple[float, int, str | None]:
        return (1.0 if attempt < 3 else 0.0), 200, "echo"

    async with webhook(settings, behave=behave) as (fake, url):
        delivery = await WeChatServer(url, settings, timeout_s=0.5).send_text(OPENID, "取号")

    assert len(fake.received) == 3
    assert {str(r.message.id) for r in fake.received} == {delivery.msg_id}
    assert len({r.message.create_time for r in fake.received}) == 1
    assert len({r.query["nonce"] for r in fake.received}) == 3
    assert [a.status for a in delivery.attempts] == [None, None, 200]
    assert "timeout" in (delivery.attempts[0].error or "")
    assert delivery.shown_to_user == "收到：取号"
    assert delivery.first_reply_s is not None and delivery.first_reply_s < 0.5


async def test_every_attempt_failing_shows_the_service_unavailable_notice() -> None:
    async with webhook(PLAIN, behave=lambda attempt: (0.0, 500, None)) as (fake, url):
        delivery = await WeChatServer(url, PLAIN, timeout_s=0.5).send_text(OPENID, "你好")
    assert len(fake.received) == 3
    assert [a.status for a in delivery.attempts] == [500, 500, 500]
    assert (delivery.reply, delivery.first_reply_s) == (None, None)
    assert delivery.shown_to_user == SERVICE_UNAVAILABLE == "该公众号暂时无法提供服务，请稍后再试"

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}/webhook"
    delivery = await WeChatServer(dead_url, PLAIN, timeout_s=0.5).send_event(OPENID, "CLICK", "PROGRESS")
    assert [a.status for a in delivery.attempts] == [None, None, None]
    assert delivery.shown_to_user == SERVICE_UNAVAILABLE


async def test_success_means_no_passive_message_and_no_retry() -> None:
    async with webhook(SAFE, behave=lambda attempt: (0.0, 200, None)) as (fake, url):
        wechat = WeChatServer(url, SAFE)
        delivery = await wechat.send_text(OPENID, "稍后回复我")
        raw = await wechat.post_raw(b"<xml>not signed</xml>", {"signature": "x", "timestamp": "1", "nonce": "2"})
    assert len(fake.received) == 1
    assert (delivery.reply, delivery.shown_to_user, delivery.delivered) == (None, None, True)
    assert raw.status_code == 500  # the fake's check_signature raised: a hostile request is refused


# -- the API stand-in ---------------------------------------------------------------------------------------------


async def test_token_flow_with_wechatpy(standin: StandIn) -> None:
    first = standin.client()
    standin.state.grant(OPENID)
    assert (await call(first.message.send_text, OPENID, "您好"))["errcode"] == 0
    assert standin.state.token_fetches == 1

    second = standin.client()
    await call(second.fetch_access_token)
    assert (await call(first.message.send_text, OPENID, "旧令牌五分钟内仍可用"))["errcode"] == 0
    assert standin.state.token_fetches == 2

    standin.now[0] += 301  # the first token is now stale: wechatpy sees 40001, fetches anew and retries
    assert (await call(first.message.send_text, OPENID, "换新令牌"))["errcode"] == 0
    assert standin.state.token_fetches == 3
    assert [c["errcode"] for c in standin.state.calls if c["api"] == "custom_send"] == [0, 0, 40001, 0]

    with pytest.raises(WeChatClientException) as refused:
        await call(standin.client(secret="wrong").fetch_access_token)
    assert refused.value.errcode == 40125
    async with httpx.AsyncClient() as client:
        anonymous = await client.post(standin.base + "message/custom/send", json={"touser": OPENID})
    assert anonymous.status_code == 200 and anonymous.json()["errcode"] == 40001


async def test_customer_service_quota(standin: StandIn) -> None:
    client = standin.client()
    with pytest.raises(WeChatClientException) as never:
        await call(client.message.send_text, OPENID, "没有用户消息")
    assert never.value.errcode == 45015

    standin.state.grant(OPENID)
    for n in range(5):
        await call(client.message.send_text, OPENID, f"第{n + 1}条")
    with pytest.raises(WeChatClientException) as sixth:
        await call(client.message.send_text, OPENID, "第6条")
    assert sixth.value.errcode == 45047

    standin.state.grant(OPENID)  # a new user message resets the allowance
    await call(client.message.send_text, OPENID, "又可以发了")
    standin.now[0] += 48 * 3600 + 1
    await call(client.fetch_access_token)  # the 2-hour token expired with the clock jump
    with pytest.raises(WeChatClientException) as late:
        await call(client.message.send_text, OPENID, "两天后")
    assert late.value.errcode == 45015


async def test_text_over_2048_bytes_is_refused(standin: StandIn) -> None:
    client = standin.client()
    standin.state.grant(OPENID)
    exactly = "办" * 682 + "ab"  # 2048 UTF-8 bytes
    assert (await call(client.message.send_text, OPENID, exactly))["errcode"] == 0
    with pytest.raises(WeChatClientException) as too_long:
        await call(client.message.send_text, OPENID, exactly + "c")
    assert too_long.value.errcode == 45002


async def test_template_messages(standin: StandIn) -> None:
    client = standin.client()
    data = {"first": {"value": "您的业务已受理"}, "keyword1": {"value": "A001"}}
    result = await call(client.message.send_template, OPENID, "tpl_case_accepted", data)
    assert result["errcode"] == 0 and isinstance(result["msgid"], int)
    with pytest.raises(WeChatClientException) as missing:
        await call(client.message.send_template, OPENID, "", data)
    assert missing.value.errcode == 40037


MENU = {
    "button": [
        {"type": "click", "name": "医保社保", "key": "DEPT_medical_insurance"},
        {
            "name": "办事",
            "sub_button": [
                {"type": "click", "name": "查进度", "key": "PROGRESS"},
                {"type": "view", "name": "办事指南", "url": "https://example.org/guide"},
            ],
        },
        {"type": "click", "name": "取号", "key": "TAKE_NUMBER"},
    ]
}


@pytest.mark.parametrize(
    ("menu", "errcode"),
    [
        ({"button": []}, 40016),
        ({"button": MENU["button"] + [MENU["button"][0]]}, 40016),
        ({"button": [{"type": "click", "name": "一二三四五六", "key": "K"}]}, 40018),  # 18 bytes
        ({"button": [{"type": "swipe", "name": "X", "key": "K"}]}, 40017),
        ({"button": [{"type": "click", "name": "X"}]}, 40019),
        ({"button": [{"name": "X", "sub_button": [{"type": "click", "name": "Y", "key": "K"}] * 6}]}, 40023),
        ({"button": [{"name": "X", "sub_button": [{"type": "click", "name": "长" * 21, "key": "K"}]}]}, 40025),
    ],
)
async def test_invalid_menus_are_refused(standin: StandIn, menu: dict[str, Any], errcode: int) -> None:
    with pytest.raises(WeChatClientException) as refused:
        await call(standin.client().menu.create, menu)
    assert refused.value.errcode == errcode
    assert standin.state.menu is None


async def test_menu_is_remembered(standin: StandIn) -> None:
    client = standin.client()
    assert await call(client.menu.get) is None  # 46003, which wechatpy turns into None
    assert (await call(client.menu.create, MENU))["errcode"] == 0
    assert (await call(client.menu.get))["menu"] == MENU
    info = await call(client.menu.get_menu_info)
    assert info["is_menu_open"] == 1
    assert info["selfmenu_info"]["button"][1]["sub_button"]["list"][0]["key"] == "PROGRESS"


async def test_media_download(standin: StandIn) -> None:
    media_id = WeChatServer("http://unused", PLAIN, media_store=standin.state.media_store).register_media(b"#!AMR\n12")
    response = await call(standin.client().media.download, media_id)
    assert response.content == b"#!AMR\n12" and response.headers["Content-Type"] == "audio/amr"
    with pytest.raises(WeChatClientException) as unknown:
        await call(standin.client().media.download, "no-such-media")
    assert unknown.value.errcode == 40007


async def test_fault_injection(standin: StandIn) -> None:
    client = standin.client()
    standin.state.grant(OPENID)
    standin.state.inject(2)
    for _ in range(2):
        with pytest.raises(WeChatClientException) as busy:
            await call(client.message.send_text, OPENID, "繁忙")
        assert busy.value.errcode == -1
    assert (await call(client.message.send_text, OPENID, "恢复"))["errcode"] == 0

    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{standin.root}/simulator/faults", json={"fail": 1, "http_status": 503})
        assert answer.status_code == 200
    with pytest.raises(WeChatClientException) as unavailable:
        await call(client.message.send_text, OPENID, "网关错误")
    assert unavailable.value.response.status_code == 503
    assert standin.state.token_fetches == 1  # token calls are never faulted


async def test_every_call_is_recorded(standin: StandIn, tmp_path: Path) -> None:
    client = standin.client()
    standin.state.grant(OPENID)
    await call(client.message.send_text, OPENID, "记录我")
    with pytest.raises(WeChatClientException):
        await call(client.message.send_text, "oSomeoneElse_without_a_message", "不会送达")

    lines = (tmp_path / "records" / "outbound.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["api"], r["errcode"]) for r in records] == [("token", 0), ("custom_send", 0), ("custom_send", 45015)]
    assert records[1]["openid"] == OPENID and records[1]["body"]["text"]["content"] == "记录我"
    assert all(r["at"] for r in records) and PLAIN.secret not in "\n".join(lines)

    async with httpx.AsyncClient() as http:
        mine = (await http.get(f"{standin.root}/simulator/outbound", params={"openid": OPENID})).json()
        assert [c["body"]["text"]["content"] for c in mine["calls"]] == ["记录我"] and mine["next"] == 3
        later = (await http.get(f"{standin.root}/simulator/outbound", params={"since": 3})).json()
        assert later == {"calls": [], "next": 3}
        await http.delete(f"{standin.root}/simulator/outbound")
        assert (await http.get(f"{standin.root}/simulator/outbound")).json() == {"calls": [], "next": 0}


# -- the whole simulator app --------------------------------------------------------------------------------------


async def test_simulator_app_delivers_and_shows_outbound(tmp_path: Path) -> None:
    async with webhook(SAFE) as (fake, url):
        app = create_app(SAFE, url, tmp_path / "outbound.jsonl", name=f"simulator_{next(_names)}")
        async with serving(app) as root, httpx.AsyncClient() as http:
            assert (await http.get(f"{root}/health")).json() == {"status": "ok"}
            page = (await http.get(f"{root}/")).text
            assert "语音" in page and "关注" in page and "/simulator/outbound" in page

            answer = await http.post(
                f"{root}/simulator/messages", json={"openid": OPENID, "type": "voice", "recognition": "我要取号"}
            )
            assert "收到：" in answer.text  # Chinese kept readable, not \\u-escaped
            delivery = answer.json()
            assert delivery["delivered"] and delivery["attempts"][0]["status"] == 200
            assert fake.received[0].message.recognition == "我要取号"

            client = StandInClient(f"{root}/cgi-bin/", SAFE)
            await call(client.message.send_text, OPENID, "您的号码是 A001")  # the voice message granted quota
            calls = (await http.get(f"{root}/simulator/outbound", params={"openid": OPENID})).json()["calls"]
            assert calls[-1]["body"]["text"]["content"] == "您的号码是 A001"

            bad = await http.post(f"{root}/simulator/messages", json={"openid": OPENID, "type": "event", "event": "X"})
            assert bad.status_code == 400
