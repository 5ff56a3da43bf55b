"""The simulator as one Sanic app: the API stand-in, message and QR-scan controls, and a phone-like chat page for
development (`page.html`)."""

from __future__ import annotations

import base64
import binascii
import functools
import json
from pathlib import Path
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, html
from sanic.response import json as json_response

from simulators.wechat.api_standin import ApiStandIn
from simulators.wechat.wechat_server import Delivery, WeChatServer
from wechat.settings import WeChatSettings

_dumps = functools.partial(json.dumps, ensure_ascii=False)  # keep Chinese readable in responses and logs
MESSAGE_TYPES = ("text", "voice", "image", "event")
VOICE_FORMATS = ("amr", "speex")
"""The Format of WeChat's voice notes."""
MAX_VOICE_BYTES = 2 * 1024 * 1024
"""WeChat's limit for a voice file."""
PAGE_PATH = Path(__file__).with_name("page.html")


def create_app(
    settings: WeChatSettings,
    webhook_url: str,
    record_path: Path | None = None,
    *,
    name: str = "wechat_simulator",
    timeout_s: float = 5.0,
) -> Sanic:
    """The stand-in and the simulated WeChat servers, sharing media and the customer-service quota."""
    app = Sanic(name)
    standin = ApiStandIn(settings, record_path)
    wechat = WeChatServer(
        webhook_url, settings, timeout_s=timeout_s, on_inbound=standin.grant, media_store=standin.media_store
    )
    app.ctx.standin = standin
    app.ctx.wechat = wechat
    standin.add_routes(app)
    page_html = PAGE_PATH.read_text(encoding="utf-8")

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return json_response({"status": "ok"})

    @app.get("/")
    async def page(request: Request) -> HTTPResponse:
        return html(page_html)

    @app.post("/simulator/messages")
    async def messages(request: Request) -> HTTPResponse:
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("openid") or body.get("type") not in MESSAGE_TYPES:
            return json_response({"error": f"expected {{openid, type: {'|'.join(MESSAGE_TYPES)}, ...}}"}, 400)
        try:
            delivery = await deliver(wechat, body)
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400, dumps=_dumps)
        return json_response(delivery.to_dict(), dumps=_dumps)

    @app.post("/simulator/scan")
    async def scan(request: Request) -> HTTPResponse:
        """The user scans a QR code: ``{"openid", "url"}`` (a code the stand-in made) or ``{"openid", "scene"}`` (one
        of the centre's permanent codes); ``"follows"`` (optional) overrides whether they already follow."""
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("openid") or not (body.get("url") or body.get("scene")):
            return json_response({"error": 'expected {"openid", "url" or "scene", "follows"?}'}, 400)
        follows = body.get("follows")
        if follows is not None and not isinstance(follows, bool):
            return json_response({"error": "follows must be true or false"}, 400)
        openid, ticket = str(body["openid"]), None
        if body.get("url"):
            url = str(body["url"])
            code = standin.qr_codes.scannable(url)
            if code is None:
                known = url.strip() in standin.qr_codes.by_url
                message = "该二维码已过期" if known else "不是公众号生成的二维码"
                return json_response({"error": message}, 410 if known else 404, dumps=_dumps)
            scene, ticket = code.scene, code.ticket
        else:
            scene = str(body["scene"])
        following = openid in wechat.followers if follows is None else follows
        delivery = await wechat.scan(openid, scene, ticket=ticket, follows=following)
        event = "SCAN" if following else "subscribe"
        return json_response(delivery.to_dict() | {"event": event, "scene": scene}, dumps=_dumps)

    return app


async def deliver(wechat: WeChatServer, body: dict[str, Any]) -> Delivery:
    """One message from a `/simulator/messages` request body.

    A voice note: ``recognition`` is WeChat's text (absent or null: recognition off, no Recognition element);
    ``audio`` is the note itself, base64-encoded, which the API stand-in then serves at ``/media/get`` under the
    message's MediaId; ``format`` is ``amr`` (the default) or ``speex``.
    """
    openid = str(body["openid"])
    kind = body["type"]
    if kind == "text":
        return await wechat.send_text(openid, str(body.get("content") or ""))
    if kind == "voice":
        recognition = body.get("recognition", body.get("content"))
        media_format = body.get("format") or "amr"
        if media_format not in VOICE_FORMATS:
            raise ValueError(f"format must be one of {VOICE_FORMATS}, got {media_format!r}")
        return await wechat.send_voice(
            openid,
            recognition=None if recognition is None else str(recognition),
            media=_voice_media(body.get("audio")),
            media_format=media_format,
        )
    if kind == "image":
        return await wechat.send_image(openid)
    return await wechat.send_event(openid, str(body.get("event") or ""), body.get("key") or None)


def _voice_media(audio: Any) -> bytes:
    """The note's bytes from the base64 ``audio`` field (none: an empty file, as before notes carried audio)."""
    if audio is None:
        return b""
    if not isinstance(audio, str):
        raise ValueError("audio must be the voice note's bytes in base64")
    try:
        media = base64.b64decode(audio, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"audio is not valid base64 ({exc})") from None
    if len(media) > MAX_VOICE_BYTES:
        raise ValueError(f"a voice note is at most {MAX_VOICE_BYTES} bytes, got {len(media)}")
    return media
