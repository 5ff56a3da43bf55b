"""The WeChat webhook's logic, independent of the web framework: verification, checks, de-duplication and the
5-second rule.

WeChat waits 5 seconds for an answer, then retries the same message (up to three deliveries in all) and finally
shows the follower "该公众号暂时无法提供服务". So:

1. Every POST is checked before anything runs: size, signature, timestamp window, harmless XML, and in safe mode
   the message signature and decryption. A failure is answered with 403/400/413 and nothing is processed.
2. Each message is claimed once in the shared state (MsgId; events: FromUserName + CreateTime). A repeated
   delivery gets the same passive answer as the first (or "success" while the first is still being worked on):
   one turn, one case, however often WeChat retries and whichever instance the retry reaches.
3. The turn runs as its own task. Done within the reply budget: the answer goes back passively, as one merged
   text. Otherwise the follower gets an acknowledgement at once and the answer follows through the
   customer-service API when the turn ends (`wechat.delivery`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.replies import TextReply

from wechat.delivery import CustomerService
from wechat.inbound import Inbound, VoiceRecognizer, interpret
from wechat.security import Refused, check_fresh, check_signature, parse_flat_xml
from wechat.settings import WeChatSettings
from wechat.state import SharedState
from wechat.text import merge, split

log = logging.getLogger(__name__)

TurnRunner = Callable[[str, str, dict[str, Any]], Awaitable[list[dict[str, Any]]]]
"""Runs one dialogue turn: (openid, text, metadata) → the bot's messages."""

ACKNOWLEDGEMENT = "收到，正在为您办理，请稍候，结果马上发给您。"
BUSY = "抱歉，系统有点忙，请稍后再发一次。"
DEDUP_TTL_S = 600
"""WeChat's retries come within ~15 s; remembering deliveries for 10 minutes is ample."""
IN_PROGRESS = "\x00in-progress"
_NUMBER = re.compile(r"[0-9]{1,20}")
"""CreateTime and MsgId: ASCII digits, no longer than a 64-bit number."""


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"


SUCCESS = HttpReply(200, "success")


def _cdata(value: str | None) -> str:
    """``value`` fit for wechatpy's CDATA sections, which take it as it is: a "]]>" inside would end the section."""
    return (value or "").replace("]]>", "]]]]><![CDATA[>")


def delivery_key(message: BaseMessage) -> str:
    """WeChat's identity of a delivery: MsgId for messages; for events (which have none) the sender and CreateTime,
    as WeChat recommends, plus the event and its key, so a follow and a click in the same second stay apart."""
    if message.id:
        return f"wechat:delivery:msg:{message.id}"
    event = getattr(message, "event", "")
    key = getattr(message, "key", None) or getattr(message, "scene_id", None) or ""
    return f"wechat:delivery:event:{message.source}:{int(message.time)}:{event}:{key}"


class WeChatWebhook:
    """Answers WeChat's GET (verification) and POST (messages and events) requests."""

    def __init__(
        self,
        settings: WeChatSettings,
        state: SharedState,
        customer_service: CustomerService,
        run_turn: TurnRunner,
        recognize: VoiceRecognizer | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.customer_service = customer_service
        self.run_turn = run_turn
        self.recognize = recognize
        self.crypto = WeChatCrypto(settings.token, settings.aes_key, settings.appid) if settings.safe_mode else None
        self._background: set[asyncio.Task[Any]] = set()

    # --- GET: the URL check WeChat makes when the server address is configured -------------------------------
    def verify(self, query: Mapping[str, str]) -> HttpReply:
        try:
            check_signature(self.settings.token, query)
            check_fresh(query, self.settings.timestamp_tolerance_s)
        except Refused as refused:
            log.warning("WeChat verification refused: %s", refused.reason)
            return HttpReply(refused.status, "forbidden")
        return HttpReply(200, query.get("echostr", ""))

    # --- POST: messages and events ---------------------------------------------------------------------------
    async def receive(self, query: Mapping[str, str], body: bytes) -> HttpReply:
        try:
            message = self._authentic_message(query, body)
        except Refused as refused:
            log.warning("WeChat request refused (%d): %s", refused.status, refused.reason)
            return HttpReply(refused.status, "forbidden" if refused.status == 403 else "bad request")
        key = delivery_key(message)
        first = await self._claim(key)
        if not first:
            return self._repeat(query, message, await self._previous_answer(key))
        answer = await self._answer(message)
        if answer is not None:
            await self._remember(key, answer)
        return self._passive(query, message, answer)

    def _authentic_message(self, query: Mapping[str, str], body: bytes) -> BaseMessage:
        if len(body) > self.settings.max_body_bytes:
            raise Refused(413, "body too large")
        if not self.settings.token:
            raise Refused(403, "WECHAT_TOKEN is not configured")
        check_signature(self.settings.token, query)
        check_fresh(query, self.settings.timestamp_tolerance_s)
        try:
            # Parsed as text, so an encoding declaration cannot make our reading and wechatpy's differ.
            xml = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "WeChat sends UTF-8") from None
        fields = parse_flat_xml(xml)
        if self.crypto is not None:
            if query.get("encrypt_type") != "aes" or "Encrypt" not in fields:
                raise Refused(400, "safe mode expects an encrypted message")
            try:
                xml = self.crypto.decrypt_message(
                    xml, query.get("msg_signature", ""), query["timestamp"], query["nonce"]
                )
            except (InvalidSignatureException, InvalidAppIdException) as exc:
                raise Refused(403, f"encrypted message refused ({type(exc).__name__})") from None
            except Exception as exc:  # bad base64, padding or length: not something WeChat sent
                raise Refused(400, f"encrypted message unreadable ({type(exc).__name__})") from None
            fields = parse_flat_xml(xml)
        elif query.get("encrypt_type") == "aes":
            raise Refused(400, "encrypted message but no WECHAT_AES_KEY configured")
        # wechatpy strips the fields and converts CreateTime and MsgId with int() only when they are read: checked
        # here, so no reading fails later (ASCII digits: "²" passes str.isdigit but not int).
        if not fields.get("FromUserName", "").strip() or not fields.get("MsgType", "").strip():
            raise Refused(400, "not a WeChat message (FromUserName, MsgType)")
        if not _NUMBER.fullmatch(fields.get("CreateTime", "")) or not _NUMBER.fullmatch(fields.get("MsgId") or "0"):
            raise Refused(400, "not a WeChat message (CreateTime, MsgId)")
        try:
            return parse_message(xml)
        except Exception as exc:  # a field of the wrong shape: wechatpy's parser gives up
            raise Refused(400, f"unreadable WeChat message ({type(exc).__name__})") from None

    async def _answer(self, message: BaseMessage) -> str | None:
        """The passive answer to a first delivery (None: nothing to say)."""
        openid, received = message.source, time.monotonic()
        inbound = await interpret(message, self.recognize)  # a voice note may be recognised here: on the clock
        held: list[str] = []
        if inbound.unfollowed:
            await self._guarded(self.customer_service.forget(openid), None)
        if inbound.from_follower:
            held = await self._guarded(self.customer_service.follower_wrote(openid), [])
        if inbound.reply is not None:
            return merge({"text": text} for text in [*held, inbound.reply])
        if inbound.text is None:
            if held:
                await self._guarded(self.customer_service.deliver(openid, "\n\n".join(held)), False)
            return None
        turn = asyncio.create_task(self._turn(openid, inbound, held))
        budget = max(self.settings.reply_budget_s - (time.monotonic() - received), 0.0)
        done, _ = await asyncio.wait({turn}, timeout=budget)
        if done:
            return turn.result()
        self._keep(turn)
        turn.add_done_callback(lambda finished: self._keep(asyncio.ensure_future(self._deliver_late(openid, finished))))
        return ACKNOWLEDGEMENT

    async def _turn(self, openid: str, inbound: Inbound, held: list[str]) -> str:
        metadata = {"channel": "wechat", **inbound.metadata}
        try:
            messages = await self.run_turn(openid, inbound.text or "", metadata)
        except Exception:
            log.exception("the dialogue turn failed")
            messages = [{"text": BUSY}]
        return merge([*({"text": text} for text in held), *messages]) or BUSY

    async def _deliver_late(self, openid: str, turn: asyncio.Task[str]) -> None:
        if turn.cancelled():
            return
        await self.customer_service.deliver(openid, turn.result())

    def _passive(self, query: Mapping[str, str], message: BaseMessage, answer: str | None) -> HttpReply:
        """The passive reply: the answer's first piece (the rest by customer service)."""
        if not answer:
            return SUCCESS
        pieces = split(answer)
        if len(pieces) > 1:
            self._keep(asyncio.ensure_future(self.customer_service.deliver_pieces(message.source, pieces[1:])))
        return self._render(query, message, pieces[0])

    def _repeat(self, query: Mapping[str, str], message: BaseMessage, previous: str | None) -> HttpReply:
        """A repeated delivery: the first piece of the same answer again, running nothing ("success" if none yet)."""
        if previous is None or previous == IN_PROGRESS:
            return SUCCESS
        return self._render(query, message, split(json.loads(previous))[0])

    def _render(self, query: Mapping[str, str], message: BaseMessage, text: str) -> HttpReply:
        """A text reply to ``message`` as XML, encrypted in safe mode."""
        xml = TextReply(source=_cdata(message.target), target=_cdata(message.source), content=_cdata(text)).render()
        if self.crypto is not None:
            xml = self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"])
        return HttpReply(200, xml, "application/xml; charset=utf-8")

    # --- shared state, degrading gracefully when it is unreachable ------------------------------------------
    async def _claim(self, key: str) -> bool:
        return await self._guarded(asyncio.to_thread(self.state.claim, key, IN_PROGRESS, DEDUP_TTL_S), True)

    async def _remember(self, key: str, answer: str) -> None:
        await self._guarded(asyncio.to_thread(self.state.put, key, json.dumps(answer), DEDUP_TTL_S), None)

    async def _previous_answer(self, key: str) -> str | None:
        return await self._guarded(asyncio.to_thread(self.state.get, key), None)

    async def _guarded(self, operation: Awaitable[Any], fallback: Any) -> Any:
        """Run a shared-state operation; if the store is down, log it and carry on with ``fallback``."""
        try:
            return await operation
        except Exception:
            log.exception("WeChat shared state unavailable; carrying on without it")
            return fallback

    # --- background work ------------------------------------------------------------------------------------
    def _keep(self, task: asyncio.Future[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout_s: float = 30) -> None:
        """Wait for late answers still being worked on or delivered (on shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._background and time.monotonic() < deadline:
            await asyncio.wait(set(self._background), timeout=max(deadline - time.monotonic(), 0.01))
