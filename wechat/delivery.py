"""Customer-service delivery: answers that missed the 5-second passive reply, within WeChat's allowance.

WeChat lets an account send a follower at most 5 customer-service messages after each message from that follower,
within 48 hours. The allowance is kept in the shared state, so all instances count together. A text that finds no
allowance left (or that WeChat refuses for that reason) waits in the follower's outbox and goes out with the answer
to their next message: nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging

from wechat.client import QUOTA_ERRORS, WeChatApi, errcode
from wechat.state import SharedState
from wechat.text import CONTINUED, split

log = logging.getLogger(__name__)

ALLOWANCE = 5
ALLOWANCE_S = 48 * 3600
SEND_ATTEMPTS = 3
RETRY_PAUSE_S = 0.5
HELD_OVER = "（您上次未收到的消息）"


def _allowance_key(openid: str) -> str:
    return f"wechat:allowance:{openid}"


def _outbox_key(openid: str) -> str:
    return f"wechat:outbox:{openid}"


class CustomerService:
    """Sends texts by the customer-service API within the allowance; keeps what cannot go now."""

    def __init__(self, api: WeChatApi, state: SharedState) -> None:
        self.api = api
        self.state = state

    async def follower_wrote(self, openid: str) -> list[str]:
        """A message (or menu click, follow, scan) arrived: renew the allowance and return texts held over."""
        await asyncio.to_thread(self.state.grant, _allowance_key(openid), ALLOWANCE, ALLOWANCE_S)
        held = await asyncio.to_thread(self.state.drain, _outbox_key(openid))
        return [HELD_OVER + "\n" + "\n".join(held)] if held else []

    async def forget(self, openid: str) -> None:
        """The follower unfollowed: drop their allowance and anything held for them."""
        await asyncio.to_thread(self.state.delete, _allowance_key(openid))
        await asyncio.to_thread(self.state.drain, _outbox_key(openid))

    async def deliver(self, openid: str, text: str) -> bool:
        """Send ``text`` (split when long). False when some of it waits in the outbox for the next message."""
        return await self.deliver_pieces(openid, split(text))

    async def deliver_pieces(self, openid: str, pieces: list[str]) -> bool:
        """Send pieces already cut to WeChat's size, in order; what cannot go now waits in the outbox."""
        for index, piece in enumerate(pieces):
            if not await self._send_one(openid, piece):
                await self._hold(openid, pieces[index:])
                return False
        return True

    async def _send_one(self, openid: str, piece: str) -> bool:
        if not await asyncio.to_thread(self.state.take, _allowance_key(openid)):
            log.info("customer-service allowance used up; holding a message for the follower's next message")
            return False
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await self.api.send_text(openid, piece)
                return True
            except Exception as exc:  # transport failures and WeChat errors alike
                code = errcode(exc)
                if code in QUOTA_ERRORS:
                    log.info("WeChat refused a customer-service message (errcode %s); holding it", code)
                    return False
                # Not the exception's text: it can hold the request URL, and with it the access token.
                log.warning("customer-service message failed (attempt %d): %s %s", attempt, type(exc).__name__, code)
                if attempt < SEND_ATTEMPTS:
                    await asyncio.sleep(RETRY_PAUSE_S * attempt)
        return False

    async def _hold(self, openid: str, pieces: list[str]) -> None:
        for piece in pieces:
            await asyncio.to_thread(self.state.push, _outbox_key(openid), piece.removesuffix(CONTINUED), ALLOWANCE_S)
