"""Plays WeChat's servers against the webhook: the XML, the signature, safe-mode encryption and the retries.

What WeChat does, and so what this does: it posts each user message to the webhook and waits 5 seconds;
on a timeout, a failed connection or a non-200 answer it posts the same message again (same MsgId and
CreateTime, fresh timestamp, nonce and signature), three tries in all. When every try failed, the user
sees "该公众号暂时无法提供服务，请稍后再试". A 200 with an empty body or "success" shows nothing.

Scanning a parametric QR code (带参数二维码) sends a SCAN event with the code's scene to a follower's account, and
makes someone who does not follow yet follow it: a subscribe event with ``qrscene_`` + the scene. So the simulator
remembers who follows: whoever subscribed, wrote or tapped, until they unsubscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree
from wechatpy.crypto import WeChatCrypto

from wechat.settings import WeChatSettings

logger = logging.getLogger(__name__)

ORIGINAL_ID = "gh_jiujin0000000"
"""The Official Account's original id (原始ID): the ToUserName of every message WeChat posts."""
SERVICE_UNAVAILABLE = "该公众号暂时无法提供服务，请稍后再试"
"""What the WeChat app shows when the webhook never answered (or answered with a malformed reply)."""
EVENTS = ("subscribe", "unsubscribe", "CLICK", "SCAN", "VIEW")
GRANTING_EVENTS = frozenset({"subscribe", "CLICK", "SCAN"})
"""Events that, like a user message, open the 48-hour customer-service window (WeChat's documented rule)."""


@dataclass(frozen=True)
class Attempt:
    """One POST to the webhook. `status` is None when no HTTP answer came (timeout, connection refused)."""

    status: int | None
    elapsed_s: float
    error: str | None = None


@dataclass
class Delivery:
    """The outcome of one user message: every attempt, the passive reply and what the user's phone shows."""

    msg_id: str | None
    attempts: list[Attempt]
    reply: dict[str, str] | None
    """The reply XML's fields (nested ones dotted, e.g. ``Articles.item.0.Title``); None for no reply."""
    shown_to_user: str | None
    """The reply as the user sees it, SERVICE_UNAVAILABLE when every attempt failed, None when silent."""

    @property
    def first_reply_s(self) -> float | None:
        """Seconds the first attempt WeChat accepted (HTTP 200) took; None if none did."""
        return next((a.elapsed_s for a in self.attempts if a.status == 200), None)

    @property
    def delivered(self) -> bool:
        return self.first_reply_s is not None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "first_reply_s": self.first_reply_s, "delivered": self.delivered}


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside one CDATA section: split it across two, as XML writers do.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(fields: dict[str, str | int | None]) -> str:
    """WeChat's flat message XML: numbers bare, text in CDATA, None fields left out."""
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        text = str(value) if isinstance(value, int) else _cdata(value)
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def xml_fields(root: Element) -> dict[str, str]:
    """Flatten a reply's XML into dotted field names; repeated tags (news items) get an index."""
    out: dict[str, str] = {}

    def walk(element: Element, prefix: str) -> None:
        children = list(element)
        if not children:
            out[prefix] = element.text or ""
            return
        counts = Counter(child.tag for child in children)
        seen: Counter[str] = Counter()
        for child in children:
            key = f"{prefix}.{child.tag}" if prefix else child.tag
            if counts[child.tag] > 1 or child.tag == "item":
                key = f"{key}.{seen[child.tag]}"
                seen[child.tag] += 1
            walk(child, key)

    walk(root, "")
    return out


def shown_text(reply: dict[str, str]) -> str | None:
    """The reply as the WeChat app renders it in the chat (non-text messages as a short label)."""
    msg_type = reply.get("MsgType", "")
    if msg_type == "text":
        return reply.get("Content", "")
    if msg_type == "news":
        titles = [value for key, value in reply.items() if key.startswith("Articles.") and key.endswith(".Title")]
        return "\n".join(f"[图文] {title}" for title in titles) or "[图文]"
    if msg_type == "transfer_customer_service":
        return None  # hands the conversation to a human agent; nothing is shown
    labels = {"image": "[图片]", "voice": "[语音]", "video": "[视频]", "music": "[音乐]"}
    return labels.get(msg_type, f"[{msg_type}]")


class ReplyError(ValueError):
    """The webhook answered 200 with something WeChat cannot show."""


class WeChatServer:
    """Posts user messages to the webhook the way WeChat's servers do."""

    def __init__(
        self,
        webhook_url: str,
        settings: WeChatSettings,
        *,
        timeout_s: float = 5.0,
        deliveries: int = 3,
        on_inbound: Callable[[str], None] | None = None,
        media_store: dict[str, bytes] | None = None,
        original_id: str = ORIGINAL_ID,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        # One client for many followers (load tests): a new httpx client costs ~20 ms of CPU for its TLS context.
        self.client = client
        self.settings = settings
        self.timeout_s = timeout_s
        self.deliveries = deliveries
        self.on_inbound = on_inbound
        self.media_store = {} if media_store is None else media_store
        self.original_id = original_id
        self.crypto = WeChatCrypto(settings.token, settings.aes_key, settings.appid) if settings.safe_mode else None
        # MsgIds look like WeChat's (19 digits); a random start keeps two simulator runs from colliding.
        self._next_msg_id = secrets.randbelow(10**18) + 6 * 10**18
        self.followers: set[str] = set()
        """OpenIDs that follow the account (what a scan sends depends on it)."""

    # -- public API: one call per user action ------------------------------------------------------------

    async def send_text(self, openid: str, text: str) -> Delivery:
        return await self._send_message(openid, "text", Content=text)

    async def send_voice(
        self, openid: str, *, recognition: str | None, media: bytes = b"", media_format: str = "amr"
    ) -> Delivery:
        """A voice note; `recognition` None means speech recognition is off (no Recognition element)."""
        media_id = self.register_media(media)
        return await self._send_message(openid, "voice", MediaId=media_id, Format=media_format, Recognition=recognition)

    async def send_image(self, openid: str, *, media: bytes = b"") -> Delivery:
        media_id = self.register_media(media)
        pic_url = f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id[:16]}/0"
        return await self._send_message(openid, "image", PicUrl=pic_url, MediaId=media_id)

    async def send_event(
        self, openid: str, event: str, key: str | None = None, *, ticket: str | None = None
    ) -> Delivery:
        """A menu click, (un)subscription, QR scan or menu link; events carry no MsgId. A subscription or scan by a
        QR code carries the code's scene (``key``) and its ``ticket`` (a random one when not given)."""
        if event not in EVENTS:
            raise ValueError(f"event must be one of {EVENTS}, got {event!r}")
        fields: dict[str, str | int | None] = {"Event": event}
        if event == "subscribe" and key:
            fields |= {"EventKey": f"qrscene_{key}", "Ticket": ticket or secrets.token_urlsafe(24)}
        elif event == "SCAN":
            fields |= {"EventKey": key or "", "Ticket": ticket or secrets.token_urlsafe(24)}
        elif event in ("CLICK", "VIEW"):
            fields["EventKey"] = key or ""
        if event == "unsubscribe":
            self.followers.discard(openid)
        elif event != "VIEW":
            self.followers.add(openid)
        if event in GRANTING_EVENTS and self.on_inbound:
            self.on_inbound(openid)
        return await self.deliver(openid, self.build_xml(openid, "event", **fields), msg_id=None)

    async def scan(
        self, openid: str, scene: str, *, ticket: str | None = None, follows: bool | None = None
    ) -> Delivery:
        """The user scans a parametric QR code: SCAN with the scene if they follow the account (``follows``, or
        as the simulator remembers), else they follow it by the code (subscribe with ``qrscene_`` + scene)."""
        following = openid in self.followers if follows is None else follows
        return await self.send_event(openid, "SCAN" if following else "subscribe", scene, ticket=ticket)

    # -- low-level helpers, also for hostile tests ---------------------------------------------------------

    def new_msg_id(self) -> str:
        self._next_msg_id += 1 + secrets.randbelow(1000)
        return str(self._next_msg_id)

    def register_media(self, media: bytes) -> str:
        """Keep `media` under a fresh MediaId so the API stand-in's /media/get can hand it out."""
        media_id = secrets.token_urlsafe(48)
        self.media_store[media_id] = media
        return media_id

    def build_xml(self, openid: str, msg_type: str, **fields: str | int | None) -> str:
        """The plaintext XML WeChat posts; CreateTime defaults to now, other fields come in the given order."""
        head: dict[str, str | int | None] = {
            "ToUserName": self.original_id,
            "FromUserName": openid,
            "CreateTime": fields.pop("CreateTime", None) or int(time.time()),
            "MsgType": msg_type,
        }
        return render_xml(head | fields)

    def signed_query(
        self, *, timestamp: str | None = None, nonce: str | None = None, token: str | None = None
    ) -> dict[str, str]:
        """`signature`, `timestamp` and `nonce` as WeChat puts them on the webhook's URL."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(9 * 10**9) + 10**9)
        token = self.settings.token if token is None else token
        signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
        return {"signature": signature, "timestamp": timestamp, "nonce": nonce}

    def envelope(self, xml: str, openid: str) -> tuple[bytes, dict[str, str]]:
        """The body and query of one attempt: freshly signed, and encrypted in safe mode."""
        query = self.signed_query() | {"openid": openid}
        if self.crypto is None:
            return xml.encode(), query
        encrypted = ElementTree.fromstring(self.crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))
        body = render_xml({"ToUserName": self.original_id, "Encrypt": encrypted.findtext("Encrypt")})
        query |= {"encrypt_type": "aes", "msg_signature": encrypted.findtext("MsgSignature") or ""}
        return body.encode(), query

    async def post_raw(self, body: bytes, query: dict[str, str]) -> httpx.Response:
        """One POST as WeChat makes it, no retry; raises httpx errors (or TimeoutError) as they come."""
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            return await self._post(client, body, query)

    async def deliver(self, openid: str, xml: str, *, msg_id: str | None) -> Delivery:
        """Post `xml` with WeChat's retries and read the passive reply."""
        attempts: list[Attempt] = []
        async with contextlib.AsyncExitStack() as scope:
            client = self.client or await scope.enter_async_context(httpx.AsyncClient(timeout=self.timeout_s))
            for _ in range(self.deliveries):
                body, query = self.envelope(xml, openid)
                started = time.perf_counter()
                try:
                    response = await self._post(client, body, query)
                except (TimeoutError, httpx.TimeoutException):
                    attempts.append(Attempt(None, time.perf_counter() - started, f"timeout after {self.timeout_s} s"))
                    continue
                except httpx.TransportError as exc:
                    attempts.append(Attempt(None, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"))
                    continue
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    attempts.append(Attempt(response.status_code, elapsed, f"HTTP {response.status_code}"))
                    continue
                try:
                    reply = self.read_reply(response.content, openid)
                except ReplyError as exc:
                    # WeChat does not retry a 200, it shows the user the failure notice instead.
                    attempts.append(Attempt(200, elapsed, str(exc)))
                    return Delivery(msg_id, attempts, None, SERVICE_UNAVAILABLE)
                attempts.append(Attempt(200, elapsed))
                return Delivery(msg_id, attempts, reply, shown_text(reply) if reply else None)
        logger.info("webhook never answered %s after %d attempts", msg_id or "event", len(attempts))
        return Delivery(msg_id, attempts, None, SERVICE_UNAVAILABLE)

    def read_reply(self, body: bytes, openid: str) -> dict[str, str] | None:
        """The passive reply's fields, None for "no message"; raises ReplyError for what WeChat would refuse."""
        text = body.decode("utf-8", errors="replace").strip()
        if text in ("", "success"):
            return None
        root = self._parse(text)
        if self.crypto is not None:
            encrypt = root.findtext("Encrypt")
            if not encrypt:
                raise ReplyError("safe mode: the reply is not encrypted")
            try:
                text = self.crypto.decrypt_message(
                    {"Encrypt": encrypt},
                    root.findtext("MsgSignature") or "",
                    root.findtext("TimeStamp") or "",
                    root.findtext("Nonce") or "",
                )
            except Exception as exc:  # wechatpy raises several unrelated types for a bad reply
                raise ReplyError(f"safe mode: the reply does not decrypt ({type(exc).__name__})") from exc
            root = self._parse(text)
        reply = xml_fields(root)
        # Stricter than documented, on purpose: a reply addressed to someone else is a webhook bug.
        if reply.get("ToUserName") != openid or reply.get("FromUserName") != self.original_id:
            raise ReplyError(f"reply addressed {reply.get('FromUserName')!r} → {reply.get('ToUserName')!r}")
        if not reply.get("MsgType"):
            raise ReplyError("reply has no MsgType")
        return reply

    # -- internals -------------------------------------------------------------------------------------------

    async def _send_message(self, openid: str, msg_type: str, **fields: str | int | None) -> Delivery:
        msg_id = self.new_msg_id()
        xml = self.build_xml(openid, msg_type, **fields, MsgId=int(msg_id))
        self.followers.add(openid)  # only followers can write to an Official Account
        if self.on_inbound:
            # Before posting: the webhook may already answer through customer service while we wait.
            self.on_inbound(openid)
        return await self.deliver(openid, xml, msg_id=msg_id)

    async def _post(self, client: httpx.AsyncClient, body: bytes, query: dict[str, str]) -> httpx.Response:
        # httpx's timeout is per phase; WeChat's 5 seconds cover the whole exchange.
        async with asyncio.timeout(self.timeout_s):
            return await client.post(self.webhook_url, params=query, content=body, headers={"Content-Type": "text/xml"})

    @staticmethod
    def _parse(text: str) -> Element:
        try:
            root = ElementTree.fromstring(text)
        except Exception as exc:  # ParseError and defusedxml's refusals alike
            raise ReplyError(f"reply is not XML ({type(exc).__name__})") from exc
        if root.tag != "xml":
            raise ReplyError(f"reply root is <{root.tag}>, not <xml>")
        return root
