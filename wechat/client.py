"""The one outbound WeChat client: customer-service and template messages, the custom menu and media downloads.

The access token lives in the shared state (Redis in production), so every process uses the same token and one
process at a time refreshes it. wechatpy is synchronous (requests); the async methods run it in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

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


class TokenSharingClient(WeChatClient):
    """wechatpy's client with its base URL from the settings and the token refresh taken by one process at a time."""

    _REFRESH_LOCK = "wechat:token-refresh"

    def __init__(self, settings: WeChatSettings, state: SharedState) -> None:
        super().__init__(settings.appid, settings.secret, session=TokenStorage(state), timeout=REQUEST_TIMEOUT_S)
        self.API_BASE_URL = settings.api_base_url
        self.state = state

    def fetch_access_token(self) -> dict[str, Any]:
        stale = self.session.get(self.access_token_key)
        if not self.state.claim(self._REFRESH_LOCK, "1", ttl_s=REQUEST_TIMEOUT_S * 2):
            # Another process is refreshing: wait for its token rather than invalidating it with a second one.
            deadline = time.monotonic() + REQUEST_TIMEOUT_S * 2
            while time.monotonic() < deadline:
                time.sleep(0.1)
                token = self.session.get(self.access_token_key)
                if token and token != stale:
                    return {"access_token": token}
        try:
            result = self._fetch_access_token(
                url=f"{self.API_BASE_URL}token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )
            lifetime = max(int(result.get("expires_in", 7200)) - TOKEN_MARGIN_S, 60)
            self.session.set(self.access_token_key, result["access_token"], lifetime)
            self.expires_at = int(time.time()) + lifetime
            return result
        finally:
            self.state.delete(self._REFRESH_LOCK)


class WeChatApi:
    """Async facade over the client for the parts of the API jiujin uses."""

    def __init__(self, settings: WeChatSettings, state: SharedState) -> None:
        self.settings = settings
        self.client = TokenSharingClient(settings, state)

    @property
    def configured(self) -> bool:
        return bool(self.settings.appid and self.settings.secret)

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (counts against the follower's allowance)."""
        await asyncio.to_thread(self.client.message.send_text, openid, text)

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, dict[str, str]], url: str | None = None
    ) -> int:
        """A template message (no allowance needed); returns WeChat's msgid."""
        result = await asyncio.to_thread(self.client.message.send_template, openid, template_id, data, url)
        return int(result.get("msgid", 0))

    async def create_menu(self, menu: dict[str, Any]) -> None:
        await asyncio.to_thread(self.client.menu.create, menu)

    async def download_media(self, media_id: str) -> bytes:
        """A voice note's (or image's) bytes."""
        response = await asyncio.to_thread(self.client.media.download, media_id)
        return bytes(response.content)


def errcode(exc: BaseException) -> int | None:
    """WeChat's error code of a failed call (None for transport failures)."""
    return exc.errcode if isinstance(exc, WeChatClientException) else None
