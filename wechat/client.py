"""The one outbound WeChat client: customer-service and template messages, the custom menu, media downloads and
temporary parametric QR codes (带参数二维码).

The access token lives in the shared state (Redis in production), so every process uses the same token and one
process at a time refreshes it. wechatpy is synchronous (requests); the async methods run it in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from wechat.settings import WeChatSettings
from wechat.state import SharedState, TokenStorage

log = logging.getLogger(__name__)

QUOTA_ERRORS = frozenset({45015, 45047})
"""45015: no user message within 48 h; 45047: the allowance after the user's last message is used up."""
FOLLOWER_GONE_ERRORS = frozenset({40003, 43004, 43019})
"""40003: not an OpenID of this account; 43004: the follower unfollowed; 43019: the follower is blocked.
Trying again cannot help."""
TOKEN_MARGIN_S = 300
"""Refresh the access token this long before WeChat's expiry, so no call meets an expired one."""
REQUEST_TIMEOUT_S = 5
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
"""The access token is invalid (40001, 40014) or expired (42001)."""
MAX_QR_EXPIRE_S = 30 * 24 * 3600
"""WeChat keeps a temporary QR code at most 30 days (2592000 s)."""


@dataclass(frozen=True)
class SceneQrCode:
    """A temporary QR code WeChat made for a scene."""

    ticket: str
    """WeChat's ticket of the code (also in the events a scan sends)."""
    url: str
    """What the code encodes (``http://weixin.qq.com/q/…``): print this as the QR code."""
    expire_seconds: int
    """How long WeChat keeps the code, in seconds from its creation."""


class TimeoutSession(requests.Session):
    """A requests session with a default timeout: wechatpy fetches the access token without one, so a WeChat that
    accepts the connection and never answers would hold the calling thread forever."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout_s
        return super().request(method, url, *args, **kwargs)


class TokenSharingClient(WeChatClient):
    """wechatpy's client with its base URL from the settings and one access token for every process.

    The token lives in the shared state. A process that finds none, or whose token WeChat rejected, replaces it
    under a lock, unless another process already has (a second fetch would invalidate the first token). wechatpy's
    own retry on token errors is off: it retries without limit; `WeChatApi` retries once.
    """

    _REFRESH_LOCK = "wechat:token-refresh"

    def __init__(self, settings: WeChatSettings, state: SharedState, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        super().__init__(
            settings.appid,
            settings.secret,
            session=TokenStorage(state),
            timeout=timeout_s,
            auto_retry=False,
        )
        self._http = TimeoutSession(timeout_s)
        self.API_BASE_URL = settings.api_base_url
        self.state = state

    @property
    def access_token(self) -> str:
        return self.session.get(self.access_token_key) or self.replace_token(None)

    def fetch_access_token(self) -> dict[str, Any]:
        """wechatpy's forced refresh: replace the current token."""
        return {"access_token": self.replace_token(self.session.get(self.access_token_key))}

    def replace_token(self, stale: str | None) -> str:
        """A token other than ``stale``: one another process put in place meanwhile, or a new one from WeChat."""
        deadline = time.monotonic() + REQUEST_TIMEOUT_S * 2
        while not self.state.claim(self._REFRESH_LOCK, "1", ttl_s=REQUEST_TIMEOUT_S * 2):
            if (current := self.session.get(self.access_token_key)) and current != stale:
                return str(current)
            if time.monotonic() > deadline:  # the holder of the lock died: go ahead
                break
            time.sleep(0.05)
        try:
            if (current := self.session.get(self.access_token_key)) and current != stale:
                return str(current)
            result = self._fetch_access_token(
                url=f"{self.API_BASE_URL}token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
            # Kept a little shorter than WeChat keeps it, so no call meets an expired token.
            lifetime = max(int(result.get("expires_in", 7200)) - TOKEN_MARGIN_S, 60)
            self.session.set(self.access_token_key, result["access_token"], lifetime)
            return str(result["access_token"])
        finally:
            self.state.delete(self._REFRESH_LOCK)


class WeChatApi:
    """Async facade over the client for the parts of the API jiujin uses.

    ``timeout_s`` bounds each HTTP request (the token's included); a caller that must answer quickly (the backend
    making a ticket's QR code while a printer waits) passes a shorter one.
    """

    def __init__(self, settings: WeChatSettings, state: SharedState, *, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.settings = settings
        self.client = TokenSharingClient(settings, state, timeout_s)

    @property
    def configured(self) -> bool:
        return bool(self.settings.appid and self.settings.secret)

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (counts against the follower's allowance)."""
        await self._call(self.client.message.send_text, openid, text)

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, dict[str, str]], url: str | None = None
    ) -> int:
        """A template message (no allowance needed); returns WeChat's msgid."""
        result = await self._call(self.client.message.send_template, openid, template_id, data, url)
        return int(result.get("msgid", 0))

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await self._call(self.client.menu.create, menu)

    async def download_media(self, media_id: str) -> bytes:
        """A voice note's (or image's) bytes."""
        response = await self._call(self.client.media.download, media_id)
        return bytes(response.content)

    async def create_scene_qr_code(self, scene: str, expire_seconds: int) -> SceneQrCode:
        """A temporary QR code carrying the string ``scene`` (QR_STR_SCENE, 1–64 characters) for ``expire_seconds``
        (WeChat keeps it at most 30 days). Scanning it pushes a SCAN event with the scene to the webhook, or, for
        someone who does not follow the account yet, a subscribe event with ``qrscene_`` + scene."""
        body = {
            "expire_seconds": expire_seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene}},
        }
        result = await self._call(self.client.qrcode.create, body)
        return SceneQrCode(str(result["ticket"]), str(result["url"]), int(result.get("expire_seconds", expire_seconds)))

    async def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """Run a wechatpy call in a thread; when WeChat rejects the token, replace it and try once more."""

        def attempt() -> Any:
            used = self.client.access_token
            try:
                return method(*args)
            except WeChatClientException as exc:
                if exc.errcode not in TOKEN_ERRORS:
                    raise
                log.info("WeChat rejected the access token (errcode %s); replacing it", exc.errcode)
                self.client.replace_token(used)
                return method(*args)

        return await asyncio.to_thread(attempt)


def errcode(exc: BaseException) -> int | None:
    """WeChat's error code of a failed call (None for transport failures)."""
    return exc.errcode if isinstance(exc, WeChatClientException) else None
