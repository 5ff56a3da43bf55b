"""A loopback stand-in for the WeChat HTTP API (``/cgi-bin/...``) with WeChat's rules, for development and tests.

The project's outbound client (wechatpy's WeChatClient with its base URL pointed here) cannot tell it from the
real API for what the project uses: access tokens, customer-service and template messages, the custom menu, media
download and temporary parametric QR codes (remembered, so the simulator can "scan" them: `qr_codes`). Errors
come back as WeChat sends them: HTTP 200 with an ``errcode``. Every call is recorded (in memory, and as JSON lines
when a record path is given) so tests and the dev page can see what was sent.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response

from simulators.wechat.qr_codes import QrCodeRefused, QrCodes
from wechat.settings import WeChatSettings

logger = logging.getLogger(__name__)

TOKEN_TTL_S = 7200
TOKEN_OVERLAP_S = 300
"""After a new token is issued the previous one keeps working this long, as on WeChat."""
WINDOW_S = 48 * 3600
"""Customer-service messages are allowed this long after the user's last message."""
REPLIES_PER_MESSAGE = 5
TEXT_LIMIT_BYTES = 2048
CUSTOM_MSG_TYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard",
     "miniprogrampage"}
)  # fmt: skip
ERRMSG = {
    -1: "system error",
    0: "ok",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40097: "invalid args",
    45002: "content size out of limit",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    46003: "menu no exist",
    47001: "data format error",
}


def error(errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": errmsg or ERRMSG.get(errcode, "error")}


class MenuError(ValueError):
    """A menu WeChat refuses, with its errcode."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


KEY_TYPES = frozenset(
    {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
     "location_select"}
)  # fmt: skip
"""Leaf types that carry a `key` (the EventKey of the event the click sends)."""
OTHER_TYPES = {"view": ("url",), "media_id": ("media_id",), "view_limited": ("media_id",),
               "article_id": ("article_id",), "article_view_limited": ("article_id",),
               "miniprogram": ("url", "appid", "pagepath")}  # fmt: skip


def validate_menu(menu: Any) -> None:
    """Check a /menu/create body as WeChat does: 1–3 buttons, each a leaf or 1–5 leaves; raise MenuError."""
    buttons = menu.get("button") if isinstance(menu, dict) else None
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise MenuError(40016, "invalid button size")
    for button in buttons:
        if not isinstance(button, dict):
            raise MenuError(40017, "invalid button type")
        _check_name(button, 16, 40018)
        subs = button.get("sub_button")
        if subs is None or (subs == [] and "type" in button):
            _check_leaf(button, sub=False)
            continue
        if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
            raise MenuError(40023, "invalid sub button size")
        for sub in subs:
            if not isinstance(sub, dict):
                raise MenuError(40024, "invalid sub button type")
            _check_name(sub, 60, 40025)
            _check_leaf(sub, sub=True)


def _check_name(button: dict[str, Any], limit: int, errcode: int) -> None:
    name = button.get("name")
    if not isinstance(name, str) or not name or len(name.encode()) > limit:
        raise MenuError(errcode, "invalid sub button name size" if errcode == 40025 else "invalid button name size")


def _check_leaf(button: dict[str, Any], *, sub: bool) -> None:
    kind = button.get("type")
    prefix = "sub button" if sub else "button"
    if kind in KEY_TYPES:
        key = button.get("key")
        if not isinstance(key, str) or not 1 <= len(key.encode()) <= 128:
            raise MenuError(40026 if sub else 40019, f"invalid {prefix} key size")
    elif kind in OTHER_TYPES:
        for name in OTHER_TYPES[kind]:
            value = button.get(name)
            if not isinstance(value, str) or not value or (name == "url" and len(value.encode()) > 1024):
                raise MenuError(40027 if sub else 40020, f"invalid {prefix} {name}")
    else:
        raise MenuError(40024 if sub else 40017, f"invalid {prefix} type")


def as_selfmenu_info(menu: dict[str, Any]) -> dict[str, Any]:
    """The menu as /get_current_selfmenu_info shows it: sub-buttons wrapped in ``{"list": [...]}``."""
    buttons = []
    for button in menu["button"]:
        if button.get("sub_button"):
            button = {**button, "sub_button": {"list": button["sub_button"]}}
        buttons.append(button)
    return {"button": buttons}


@dataclass
class Fault:
    """Injected failures for the next `remaining` non-token calls."""

    remaining: int = 0
    errcode: int | None = -1
    http_status: int | None = None


class ApiStandIn:
    """The state behind the stand-in: tokens, per-user quotas, the menu, faults and the call record."""

    def __init__(
        self,
        settings: WeChatSettings,
        record_path: Path | None = None,
        *,
        media_store: dict[str, bytes] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.record_path = record_path
        self.media_store = {} if media_store is None else media_store
        self.clock = clock
        self.calls: list[dict[str, Any]] = []
        self.token_fetches = 0
        self.menu: dict[str, Any] | None = None
        self.fault = Fault()
        self._tokens: dict[str, float] = {}  # token → valid until
        self._windows: dict[str, tuple[float, int]] = {}  # openid → (last user message at, replies left)
        self._template_msgids = itertools.count(secrets.randbelow(10**9) + 10**9)
        self.qr_codes = QrCodes(clock)

    # -- state -------------------------------------------------------------------------------------------

    def issue_token(self) -> str:
        now = self.clock()
        for token, valid_until in self._tokens.items():
            self._tokens[token] = min(valid_until, now + TOKEN_OVERLAP_S)
        token = secrets.token_urlsafe(96)
        self._tokens = {t: until for t, until in self._tokens.items() if until > now} | {token: now + TOKEN_TTL_S}
        self.token_fetches += 1
        return token

    def token_valid(self, token: str | None) -> bool:
        return bool(token) and self._tokens.get(token or "", 0.0) > self.clock()

    def grant(self, openid: str) -> None:
        """A user message from `openid` arrived: REPLIES_PER_MESSAGE customer-service messages for 48 h."""
        self._windows[openid] = (self.clock(), REPLIES_PER_MESSAGE)

    def take_reply(self, openid: str) -> int:
        """Use one customer-service message for `openid`: 0, or the errcode WeChat gives."""
        at, left = self._windows.get(openid, (None, 0))
        if at is None or self.clock() - at > WINDOW_S:
            return 45015
        if left <= 0:
            return 45047
        self._windows[openid] = (at, left - 1)
        return 0

    def inject(self, fail: int, errcode: int | None = -1, http_status: int | None = None) -> None:
        """Make the next `fail` non-token calls fail with `errcode` (-1: system busy) or an HTTP status."""
        self.fault = Fault(fail, errcode, http_status)

    def record(self, api: str, openid: str | None, body: Any, errcode: int, **extra: Any) -> dict[str, Any]:
        call = {
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "api": api,
            "openid": openid,
            "body": body,
            "errcode": errcode,
            **extra,
        }
        self.calls.append(call)
        if self.record_path is not None:
            # A few hundred bytes appended per call on a development tool: not worth an executor.
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            with self.record_path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(call, ensure_ascii=False) + "\n")
        return call

    def outbound(self, openid: str | None = None, since: int = 0) -> dict[str, Any]:
        calls = [
            {"index": index, **call}
            for index, call in enumerate(self.calls[since:], start=since)
            if openid is None or call["openid"] == openid
        ]
        return {"calls": calls, "next": len(self.calls)}

    # -- the API itself ----------------------------------------------------------------------------------

    def add_routes(self, app: Sanic) -> None:
        """Register the ``/cgi-bin/...`` API and the ``/simulator/outbound`` and ``/simulator/faults`` controls."""
        api = Blueprint("wechat_api_standin", url_prefix="/cgi-bin")
        api.add_route(self._token, "/token", methods=["GET"])
        api.add_route(self._custom_send, "/message/custom/send", methods=["POST"])
        api.add_route(self._template_send, "/message/template/send", methods=["POST"])
        api.add_route(self._menu_create, "/menu/create", methods=["POST"])
        api.add_route(self._menu_get, "/menu/get", methods=["GET"])
        api.add_route(self._selfmenu_get, "/get_current_selfmenu_info", methods=["GET"])
        api.add_route(self._media_get, "/media/get", methods=["GET"])
        api.add_route(self._qrcode_create, "/qrcode/create", methods=["POST"])
        control = Blueprint("wechat_api_standin_control", url_prefix="/simulator")
        control.add_route(self._outbound_get, "/outbound", methods=["GET"])
        control.add_route(self._outbound_clear, "/outbound", methods=["DELETE"])
        control.add_route(self._faults, "/faults", methods=["POST"])
        control.add_route(self._menu_show, "/menu", methods=["GET"])
        control.add_route(self._qr_codes_list, "/qrcodes", methods=["GET"])
        app.blueprint(api)
        app.blueprint(control)

    async def _token(self, request: Request) -> HTTPResponse:
        args = {name: request.args.get(name, "") for name in ("grant_type", "appid", "secret")}
        body = {"grant_type": args["grant_type"], "appid": args["appid"]}  # never record the secret
        if args["grant_type"] != "client_credential":
            result = error(40002)
        elif args["appid"] != self.settings.appid:
            result = error(40013)
        elif not self.settings.secret or args["secret"] != self.settings.secret:
            result = error(40125)
        else:
            result = {"access_token": self.issue_token(), "expires_in": TOKEN_TTL_S}
        self.record("token", None, body, result.get("errcode", 0))
        return json_response(result)

    def _refuse(self, request: Request, api: str, openid: str | None, body: Any) -> HTTPResponse | None:
        """The answer for a call with a bad token or an injected fault; None to go on."""
        if not self.token_valid(request.args.get("access_token")):
            self.record(api, openid, body, 40001)
            return json_response(error(40001))
        if self.fault.remaining > 0:
            self.fault.remaining -= 1
            if self.fault.http_status is not None:
                self.record(api, openid, body, -1, http_status=self.fault.http_status)
                return json_response({"error": "injected fault"}, status=self.fault.http_status)
            errcode = -1 if self.fault.errcode is None else self.fault.errcode
            self.record(api, openid, body, errcode, injected=True)
            return json_response(error(errcode))
        return None

    def _answer(self, api: str, openid: str | None, body: Any, result: dict[str, Any]) -> HTTPResponse:
        self.record(api, openid, body, result["errcode"])
        return json_response(result)

    @staticmethod
    def _json_body(request: Request) -> Any:
        try:
            return json.loads(request.body or b"")
        except ValueError:
            return None

    async def _custom_send(self, request: Request) -> HTTPResponse:
        body = self._json_body(request)
        openid = body.get("touser") if isinstance(body, dict) else None
        if refusal := self._refuse(request, "custom_send", openid, body):
            return refusal
        if not isinstance(body, dict):
            return self._answer("custom_send", None, body, error(47001))
        msg_type = body.get("msgtype")
        if not openid:
            return self._answer("custom_send", openid, body, error(40003))
        if msg_type not in CUSTOM_MSG_TYPES or not isinstance(body.get(msg_type), dict):
            return self._answer("custom_send", openid, body, error(40008))
        if msg_type == "text":
            content = body["text"].get("content")
            if not isinstance(content, str) or not content:
                return self._answer("custom_send", openid, body, error(47001))
            if len(content.encode()) > TEXT_LIMIT_BYTES:
                return self._answer("custom_send", openid, body, error(45002))
        errcode = self.take_reply(openid)
        return self._answer("custom_send", openid, body, error(errcode))

    async def _template_send(self, request: Request) -> HTTPResponse:
        body = self._json_body(request)
        openid = body.get("touser") if isinstance(body, dict) else None
        if refusal := self._refuse(request, "template_send", openid, body):
            return refusal
        if not isinstance(body, dict) or not isinstance(body.get("data", {}), dict):
            return self._answer("template_send", openid, body, error(47001))
        if not openid:
            return self._answer("template_send", openid, body, error(40003))
        if not body.get("template_id"):
            return self._answer("template_send", openid, body, error(40037))
        return self._answer("template_send", openid, body, error(0) | {"msgid": next(self._template_msgids)})

    async def _menu_create(self, request: Request) -> HTTPResponse:
        body = self._json_body(request)
        if refusal := self._refuse(request, "menu_create", None, body):
            return refusal
        try:
            validate_menu(body)
        except MenuError as exc:
            return self._answer("menu_create", None, body, error(exc.errcode, exc.errmsg))
        self.menu = {"button": body["button"]}
        return self._answer("menu_create", None, body, error(0))

    async def _menu_get(self, request: Request) -> HTTPResponse:
        if refusal := self._refuse(request, "menu_get", None, None):
            return refusal
        if self.menu is None:
            return self._answer("menu_get", None, None, error(46003))
        return self._answer("menu_get", None, None, {"menu": self.menu, "errcode": 0})

    async def _selfmenu_get(self, request: Request) -> HTTPResponse:
        if refusal := self._refuse(request, "menu_get", None, None):
            return refusal
        if self.menu is None:
            return self._answer("menu_get", None, None, {"is_menu_open": 0, "errcode": 0})
        result = {"is_menu_open": 1, "selfmenu_info": as_selfmenu_info(self.menu), "errcode": 0}
        return self._answer("menu_get", None, None, result)

    async def _media_get(self, request: Request) -> HTTPResponse:
        media_id = request.args.get("media_id", "")
        body = {"media_id": media_id}
        if refusal := self._refuse(request, "media_get", None, body):
            return refusal
        media = self.media_store.get(media_id)
        if media is None:
            return self._answer("media_get", None, body, error(40007))
        self.record("media_get", None, body, 0, bytes=len(media))
        content_type, extension = _media_type(media)
        headers = {"Content-Disposition": f'attachment; filename="{media_id[:16]}.{extension}"'}
        return raw(media, content_type=content_type, headers=headers)

    async def _qrcode_create(self, request: Request) -> HTTPResponse:
        body = self._json_body(request)
        if refusal := self._refuse(request, "qrcode_create", None, body):
            return refusal
        try:
            code = self.qr_codes.create(body)
        except QrCodeRefused as exc:
            return self._answer("qrcode_create", None, body, error(exc.errcode))
        self.record("qrcode_create", None, body, 0, url=code.url)
        return json_response(code.answer(self.clock()))

    # -- controls for tests and the dev page ---------------------------------------------------------------

    async def _outbound_get(self, request: Request) -> HTTPResponse:
        try:
            since = max(0, int(request.args.get("since", "0")))
        except ValueError:
            since = 0
        return json_response(self.outbound(request.args.get("openid") or None, since))

    async def _outbound_clear(self, request: Request) -> HTTPResponse:
        self.calls.clear()
        return json_response({"next": 0})

    async def _faults(self, request: Request) -> HTTPResponse:
        body = self._json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("fail"), int):
            return json_response({"error": 'expected {"fail": n, "errcode": .., "http_status": ..}'}, status=400)
        self.inject(body["fail"], body.get("errcode", -1), body.get("http_status"))
        return json_response({"fail": self.fault.remaining, "errcode": self.fault.errcode,
                              "http_status": self.fault.http_status})  # fmt: skip

    async def _qr_codes_list(self, request: Request) -> HTTPResponse:
        """The QR codes made so far, newest first (the dev page offers them to scan)."""
        return json_response({"codes": self.qr_codes.listing()})

    async def _menu_show(self, request: Request) -> HTTPResponse:
        """The published menu without a token, for the dev page (which must not hold the AppSecret)."""
        return json_response({"menu": self.menu})


def _media_type(media: bytes) -> tuple[str, str]:
    """Content type by magic bytes: voice notes are AMR unless they say otherwise."""
    if media.startswith(b"\x89PNG"):
        return "image/png", "png"
    if media.startswith(b"\xff\xd8"):
        return "image/jpeg", "jpg"
    if media.startswith(b"RIFF"):
        return "audio/wav", "wav"
    return "audio/amr", "amr"
