"""The WeChat webhook's logic, independent of the web framework: verification, checks, de-duplication and the
5-second rule.

WeChat waits 5 seconds for an answer, then retries the same message (up to three deliveries in all) and finally
shows the follower "该公众号暂时无法提供服务". So:

1. Every POST is checked before anything runs: size, signature, timestamp window, harmless XML, and in safe mode
   the message signature and decryption. A failure is answered with 403/400/413 and nothing is processed. Each
   signed (timestamp, nonce) is remembered for the timestamp window with a digest of its body: the same request
   again (WeChat's retry, nginx resending) goes on to de-duplication, but another body under a captured query is
   refused. In plaintext mode the signature does not cover the body, so this is what stops a captured query from
   carrying a message of someone else's making.
2. Each message is claimed once in the shared state (MsgId; events: FromUserName + CreateTime), in the name of the
   instance that works on it; every instance renews a short-lived liveness key while it runs (`keep_alive_forever`).
   A repeated delivery (WeChat's retry, or nginx resending to another instance) runs nothing and gets the same
   passive answer as the first: while the first is being worked on, it waits for that answer within the reply
   budget ("success" if it does not come in time: WeChat retries). If the instance working on it died (its
   liveness key expired), one repeated delivery takes the claim over atomically and runs the turn as a first
   delivery. One turn, one case, however often WeChat retries and whichever instance the retry reaches.
3. The turn runs as its own task. Done within the reply budget: the answer goes back passively, as one merged
   text. Otherwise the follower gets an acknowledgement at once and the answer follows through the
   customer-service API when the turn ends (`wechat.delivery`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
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
"""A claimed delivery being worked on: ``IN_PROGRESS:<instance id>`` (bare: written before instances had ids, owner
unknown and taken to be alive). Answers are stored as JSON, which never starts with NUL."""
LIVENESS_TTL_S = 3.0
"""An instance counts as alive this long after its last heartbeat; a killed one's deliveries are taken over then."""
HEARTBEAT_INTERVAL_S = 1.0
"""How often each instance renews its liveness key."""
POLL_S = 0.1
"""How often a repeated delivery looks for the answer to the first."""
HEARTBEAT_LOG_EVERY_S = 60.0
"""While the heartbeat keeps failing, at most one log line per this many seconds."""
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


def liveness_key(instance_id: str) -> str:
    """Where an instance's heartbeat lives in the shared state."""
    return f"wechat:instance:{instance_id}"


def nonce_key(timestamp: str, nonce: str) -> str:
    """Where a signed request's timestamp and nonce are remembered, with a digest of its body."""
    return f"wechat:nonce:{timestamp}:{nonce[:64]}"


def _owner(stored: str) -> str | None:
    """The instance working on a delivery whose stored value is ``stored`` ("" when unknown); None if answered."""
    if stored == IN_PROGRESS:
        return ""
    prefix = IN_PROGRESS + ":"
    return stored[len(prefix) :] if stored.startswith(prefix) else None


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
        self.instance_id = uuid.uuid4().hex
        self._in_progress = f"{IN_PROGRESS}:{self.instance_id}"
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
        received = time.monotonic()
        try:
            message = self._authentic_message(query, body)
        except Refused as refused:
            log.warning("WeChat request refused (%d): %s", refused.status, refused.reason)
            return HttpReply(refused.status, "forbidden" if refused.status == 403 else "bad request")
        if not await self._first_use_of_nonce(query, body):
            log.warning("WeChat request refused (403): a signed timestamp and nonce reused with another body")
            return HttpReply(403, "forbidden")
        key = delivery_key(message)
        if await self._claim(key):
            return await self._first(query, message, key, received)
        return await self._repeat(query, message, key, received)

    async def _first(self, query: Mapping[str, str], message: BaseMessage, key: str, received: float) -> HttpReply:
        """The delivery this instance claimed: answer it, and store the answer for the repeats.

        The work is shielded from this request: when WeChat hangs up first (Sanic then cancels the handler), the
        answer is still stored for WeChat's retry, and the rest of a long answer or a late one still goes out by
        customer service."""
        work = asyncio.ensure_future(self._answer_and_store(message, key, received))
        self._keep(work)
        answer = await asyncio.shield(work)
        return self._render(query, message, split(answer)[0]) if answer else SUCCESS

    async def _answer_and_store(self, message: BaseMessage, key: str, received: float) -> str | None:
        """The answer to a first delivery, stored for the repeats; pieces after the first go by customer service."""
        answer = await self._answer(message, received)
        await self._remember(key, answer or "")  # "" also ends the claim: a repeat gets "success" without waiting
        if answer and len(pieces := split(answer)) > 1:
            self._keep(asyncio.ensure_future(self.customer_service.deliver_pieces(message.source, pieces[1:])))
        return answer

    async def _repeat(self, query: Mapping[str, str], message: BaseMessage, key: str, received: float) -> HttpReply:
        """A repeated delivery: the first piece of the first one's answer, waiting for it within the reply budget
        ("success" if none comes); if the instance working on it died, one repeat takes it over and answers it."""
        deadline = received + self.settings.reply_budget_s
        while True:
            stored = await self._stored(key)
            if stored is None:  # forgotten, or the store is unreachable: nothing to answer with
                return SUCCESS
            owner = _owner(stored)
            if owner is None:
                previous = json.loads(stored)
                return self._render(query, message, split(previous)[0]) if previous else SUCCESS
            if not await self._alive(owner) and await self._take_over(key, stored):
                log.warning("instance %s died working on a WeChat delivery; this instance answers it", owner)
                return await self._first(query, message, key, received)
            left = deadline - time.monotonic()
            if left <= 0:
                return SUCCESS
            await asyncio.sleep(min(POLL_S, left))

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

    async def _answer(self, message: BaseMessage, received: float) -> str | None:
        """The passive answer to a first delivery received at ``received`` (None: nothing to say)."""
        openid = message.source
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

    def _render(self, query: Mapping[str, str], message: BaseMessage, text: str) -> HttpReply:
        """A text reply to ``message`` as XML, encrypted in safe mode."""
        xml = TextReply(source=_cdata(message.target), target=_cdata(message.source), content=_cdata(text)).render()
        if self.crypto is not None:
            xml = self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"])
        return HttpReply(200, xml, "application/xml; charset=utf-8")

    # --- shared state, degrading gracefully when it is unreachable ------------------------------------------
    async def _first_use_of_nonce(self, query: Mapping[str, str], body: bytes) -> bool:
        """False if this signed timestamp and nonce came before with another body (True for the same body again, and
        while the store is unreachable)."""
        key = nonce_key(query["timestamp"], query["nonce"])
        digest = hashlib.sha256(body).hexdigest()
        ttl_s = 2 * self.settings.timestamp_tolerance_s  # outlives the window in which the timestamp is accepted
        if await self._guarded(asyncio.to_thread(self.state.claim, key, digest, ttl_s), True):
            return True
        return await self._guarded(asyncio.to_thread(self.state.get, key), digest) in {digest, None}

    async def _claim(self, key: str) -> bool:
        return await self._guarded(asyncio.to_thread(self.state.claim, key, self._in_progress, DEDUP_TTL_S), True)

    async def _take_over(self, key: str, stored: str) -> bool:
        """Claim a delivery from a dead instance; of several instances trying, one succeeds."""
        replace = asyncio.to_thread(self.state.replace, key, stored, self._in_progress, DEDUP_TTL_S)
        return bool(await self._guarded(replace, False))

    async def _remember(self, key: str, answer: str) -> None:
        await self._guarded(asyncio.to_thread(self.state.put, key, json.dumps(answer), DEDUP_TTL_S), None)

    async def _stored(self, key: str) -> str | None:
        return await self._guarded(asyncio.to_thread(self.state.get, key), None)

    async def _alive(self, owner: str) -> bool:
        """Whether the instance ``owner`` still runs; unknown owners, and any doubt (the store failing), say yes."""
        if not owner or owner == self.instance_id:
            return True
        return await self._guarded(asyncio.to_thread(self.state.get, liveness_key(owner)), "unknown") is not None

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

    async def keep_alive_forever(self, interval_s: float = HEARTBEAT_INTERVAL_S, ttl_s: float = LIVENESS_TTL_S) -> None:
        """Renew this instance's liveness key every ``interval_s`` seconds (valid ``ttl_s``) until cancelled, so the
        other instances leave the deliveries it works on to it.

        If the shared state is unreachable, that is logged (with its traceback the first time, then at most once
        every HEARTBEAT_LOG_EVERY_S) and the next beat tries again.
        """
        if not 0 < interval_s < ttl_s:
            raise ValueError(f"the heartbeat ({interval_s} s) must come more often than its key expires ({ttl_s} s)")
        key, logged = liveness_key(self.instance_id), 0.0
        failing_since: float | None = None
        while True:
            try:
                await asyncio.to_thread(self.state.put, key, "alive", ttl_s)
            except Exception as exc:
                now = time.monotonic()
                if failing_since is None:
                    log.exception("cannot renew this instance's liveness key; trying again every %.1f s", interval_s)
                    failing_since, logged = now, now
                elif now - logged >= HEARTBEAT_LOG_EVERY_S:
                    log.warning(
                        "the liveness key still cannot be renewed (%.0f s): %s", now - failing_since, type(exc).__name__
                    )
                    logged = now
            else:
                if failing_since is not None:
                    log.info("this instance's liveness key is renewed again")
                failing_since = None
            await asyncio.sleep(interval_s)

    async def drain(self, timeout_s: float = 30) -> None:
        """Wait for late answers still being worked on or delivered (on shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._background and time.monotonic() < deadline:
            await asyncio.wait(set(self._background), timeout=max(deadline - time.monotonic(), 0.01))
