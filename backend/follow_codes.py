"""The QR code printed on a queue ticket: WeChat's parametric code (带参数二维码), so that scanning it links the ticket
to the resident's WeChat and the "3 people ahead" notice reaches them; or, where WeChat cannot make one, the ticket's
page (which shows the place in the queue but can remind nobody).

The ticket printer's first claim of a job asks for the code (`backend.services.print_jobs.attach_wechat_code`) outside
any transaction and within ``QR_TIMEOUT_S``, and the job's document keeps it, so a reprint prints the same code. The
code's scene is signed with the follow secret (`vocabulary.scenes`): a scan links a follower only to a ticket whose code
the backend made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from backend.config import Settings
from printing.documents import PAGE_QR, WECHAT_QR, QrKind
from vocabulary.follow_urls import ticket_url
from vocabulary.scenes import ticket_scene
from wechat.client import MAX_QR_EXPIRE_S, WeChatApi, errcode
from wechat.settings import WeChatSettings
from wechat.state import open_state

logger = logging.getLogger(__name__)

QR_TIMEOUT_S = 2.0
"""The most the printer's claim waits for WeChat, all requests included (the token's too)."""
MIN_LIFETIME_S = 3600
"""A code lives at least this long, even for a ticket printed just before midnight."""


@dataclass(frozen=True)
class FollowCode:
    """What a ticket's QR code encodes, and which kind of code it is (WECHAT_QR or PAGE_QR)."""

    url: str
    kind: QrKind


def lifetime_s(service_day: dt.date, now: dt.datetime) -> int:
    """Seconds from ``now`` (the centre's local time) to the end of the ticket's service day, after which its number
    means nothing; at least MIN_LIFETIME_S, at most WeChat's 30 days."""
    end = dt.datetime.combine(service_day + dt.timedelta(days=1), dt.time(0), tzinfo=now.tzinfo)
    return int(min(max((end - now).total_seconds(), MIN_LIFETIME_S), MAX_QR_EXPIRE_S))


def _reason(exc: BaseException) -> str:
    """Why WeChat made no code, free of the access token (wechatpy's errors can carry the request's URL)."""
    if (code := errcode(exc)) is not None:
        return f"errcode {code}"
    return "no answer within the time allowed" if isinstance(exc, TimeoutError) else type(exc).__name__


class FollowCodes:
    """Makes tickets' QR codes: WeChat's through ``api`` (None: WeChat is not configured), else the page's; a WeChat
    code's scene is signed with ``scene_secret`` (the follow secret)."""

    def __init__(
        self, api: WeChatApi | None, page_url: str, *, scene_secret: bytes, timeout_s: float = QR_TIMEOUT_S
    ) -> None:
        self.api = api
        self.page_url = page_url.rstrip("/")
        self.scene_secret = scene_secret
        self.timeout_s = timeout_s

    @classmethod
    def from_env(cls, settings: Settings, scene_secret: bytes) -> FollowCodes:
        """Codes for WECHAT_* settings (opens the shared state, a file or Redis: call it in a thread)."""
        wechat = WeChatSettings.from_env()
        if not (wechat.appid and wechat.secret):  # WeChatApi.configured's test, before opening any state
            return cls(None, settings.follow_url, scene_secret=scene_secret)
        api = WeChatApi(wechat, open_state(wechat), timeout_s=QR_TIMEOUT_S)
        return cls(api, settings.follow_url, scene_secret=scene_secret)

    def page(self, service_day: dt.date, number: str) -> FollowCode:
        """The ticket's page (``/follow/ticket/<day>/<number>``)."""
        return FollowCode(ticket_url(self.page_url, service_day, number), PAGE_QR)

    async def for_ticket(self, service_day: dt.date, number: str, *, now: dt.datetime, job_id: int) -> FollowCode:
        """WeChat's code for the ticket, living until the end of its service day; the page when WeChat is not
        configured, or fails or is slow (logged: the caller keeps the code, so this happens once per job)."""
        if self.api is None:
            return self.page(service_day, number)
        scene = ticket_scene(self.scene_secret, service_day, number)
        try:
            made = self.api.create_scene_qr_code(scene, lifetime_s(service_day, now))
            code = await asyncio.wait_for(made, self.timeout_s)
        except Exception as exc:  # WeChat's refusals, transport errors and the timeout alike: print the page
            logger.warning(
                "print job %d: WeChat made no QR code for ticket %s (%s); the ticket shows its page instead",
                job_id,
                number,
                _reason(exc),
            )
            return self.page(service_day, number)
        return FollowCode(code.url, WECHAT_QR)


async def start(settings: Settings, scene_secret: bytes) -> FollowCodes:
    """This worker's maker of tickets' codes, signing their scenes with ``scene_secret`` (the follow secret)."""
    codes = await asyncio.to_thread(FollowCodes.from_env, settings, scene_secret)
    if codes.api is None:
        logger.info("WeChat is not configured (WECHAT_APPID, WECHAT_SECRET): tickets carry their page's address")
    return codes
