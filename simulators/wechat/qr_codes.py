"""Parametric QR codes (带参数二维码) as WeChat makes them, for the API stand-in: ``/qrcode/create``'s rules, and the
codes made so far, so the simulated WeChat app can "scan" one by its url.

WeChat answers a create with ``{"ticket", "expire_seconds", "url"}``; the url (``http://weixin.qq.com/q/…``) is what
the printed code encodes. A temporary code lives ``expire_seconds`` (30 s when not given, at most 30 days); a
permanent one (QR_LIMIT_…) forever.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_EXPIRE_S = 30
"""A temporary code created without ``expire_seconds`` lives 30 seconds (WeChat's default)."""
MAX_EXPIRE_S = 2592000
"""Longer lifetimes are cut to 30 days, as WeChat does."""
MAX_SCENE_STR = 64
ACTIONS = frozenset({"QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"})
URL_PREFIX = "http://weixin.qq.com/q/"
INVALID_ARGS = 40097
DATA_FORMAT_ERROR = 47001


class QrCodeRefused(ValueError):
    """A create body WeChat refuses, with its errcode."""

    def __init__(self, errcode: int) -> None:
        super().__init__(f"errcode {errcode}")
        self.errcode = errcode


@dataclass(frozen=True)
class QrCode:
    """A code the stand-in made: what it encodes, WeChat's ticket, its scene, and until when it can be scanned."""

    url: str
    ticket: str
    scene: str
    expires_at: float | None
    """Epoch seconds; None for a permanent code."""

    def answer(self, now: float) -> dict[str, Any]:
        """The create's answer as WeChat gives it."""
        lifetime = {} if self.expires_at is None else {"expire_seconds": round(self.expires_at - now)}
        return {"ticket": self.ticket, "url": self.url} | lifetime


def read_request(body: Any) -> tuple[str, int | None]:
    """(scene, lifetime in seconds or None for a permanent code) of a create body; raises QrCodeRefused."""
    if not isinstance(body, dict) or body.get("action_name") not in ACTIONS:
        raise QrCodeRefused(DATA_FORMAT_ERROR)
    action = str(body["action_name"])
    info = body.get("action_info")
    scene = info.get("scene") if isinstance(info, dict) else None
    if not isinstance(scene, dict):
        raise QrCodeRefused(INVALID_ARGS)
    if action.endswith("STR_SCENE"):
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_SCENE_STR:
            raise QrCodeRefused(INVALID_ARGS)
    else:
        value = scene.get("scene_id")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise QrCodeRefused(INVALID_ARGS)
    if action.startswith("QR_LIMIT"):
        return str(value), None
    asked = body.get("expire_seconds", DEFAULT_EXPIRE_S)
    if not isinstance(asked, int) or isinstance(asked, bool) or asked <= 0:
        raise QrCodeRefused(INVALID_ARGS)
    return str(value), min(asked, MAX_EXPIRE_S)


class QrCodes:
    """The codes made so far, by url."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.by_url: dict[str, QrCode] = {}

    def create(self, body: Any) -> QrCode:
        """A new code for a /qrcode/create body, with a random ticket and a url of WeChat's shape."""
        scene, lifetime = read_request(body)
        alphabet = string.ascii_letters + string.digits
        url = URL_PREFIX + "02" + "".join(secrets.choice(alphabet) for _ in range(22))
        expires_at = None if lifetime is None else self.clock() + lifetime
        code = QrCode(url, "gQ" + secrets.token_urlsafe(60), scene, expires_at)
        self.by_url[url] = code
        return code

    def scannable(self, url: str) -> QrCode | None:
        """The code behind ``url`` while it can be scanned; None when unknown or expired."""
        code = self.by_url.get(url.strip())
        if code is None or (code.expires_at is not None and code.expires_at <= self.clock()):
            return None
        return code

    def listing(self) -> list[dict[str, Any]]:
        """Every code, newest first, with whether it expired (the dev page lists them to scan)."""
        now = self.clock()
        return [
            {
                "url": code.url,
                "scene": code.scene,
                "expires_at": code.expires_at,
                "expired": code.expires_at is not None and code.expires_at <= now,
            }
            for code in reversed(self.by_url.values())
        ]
