"""The notice sender: a background task in each backend worker that sends due WeChat notices to residents.

Every ``notifier_interval_s`` it leases the due notices (`backend.notices.outbox.claim_due`, safe with
several workers and replicas), sends each through `wechat.templates.send_notice`, and records the outcome: sent, or
another attempt later with exponential backoff, or failed after the last attempt. Without WeChat credentials it does
not start, and notices wait in the database, pending, until a backend with credentials sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from typing import Protocol

from backend.config import Settings
from backend.db import Database
from backend.models import NotificationStatus, utcnow
from backend.notices import outbox as service
from backend.notices.outbox import MAX_ATTEMPTS
from vocabulary.masking import mask_openid
from wechat.client import FOLLOWER_GONE_ERRORS, WeChatApi, errcode
from wechat.delivery import CustomerService
from wechat.settings import WeChatSettings
from wechat.state import open_state
from wechat.templates import Notice, send_notice

logger = logging.getLogger(__name__)

BATCH = 10
"""Notices leased per pass; they are sent one after another, in the order they were written."""
SEND_TIMEOUT_S = 30.0
"""One send that takes longer counts as failed (wechatpy's own timeout is 5 s per request, with retries)."""
LEASE = dt.timedelta(seconds=BATCH * SEND_TIMEOUT_S + 60)
"""Long enough for a whole batch, so a notice is never leased to a second worker while the first still sends it."""
ERROR_LENGTH = 500

_SECRET_IN_URL = re.compile(r"\b(access_token|secret)=[^&\s'\"]+")


class Sender(Protocol):
    """Whatever delivers a notice to a follower: returns how it went out, raises to have it tried again later."""

    async def send(self, openid: str, notice: Notice) -> str: ...


class WeChatSender:
    """The real sender: a template message, or a customer-service text where no template id is configured."""

    def __init__(self, api: WeChatApi, customer_service: CustomerService) -> None:
        self.api = api
        self.customer_service = customer_service

    @classmethod
    def from_env(cls) -> WeChatSender | None:
        """The sender for WECHAT_* settings; None when WeChat is not configured. Opens the shared state (a file or
        Redis): call it in a thread."""
        settings = WeChatSettings.from_env()
        # WeChatApi.configured's test, made before opening the shared state so an unconfigured backend creates none.
        if not (settings.appid and settings.secret):
            return None
        state = open_state(settings)
        api = WeChatApi(settings, state)
        return cls(api, CustomerService(api, state))

    async def send(self, openid: str, notice: Notice) -> str:
        return await send_notice(self.api, self.customer_service, openid, notice)


def _describe(exc: BaseException, openid: str) -> str:
    """The error for the log and ``last_error``: no access token or AppSecret (they appear in request URLs), and
    the OpenID masked."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = _SECRET_IN_URL.sub(r"\1=***", text).replace(openid, mask_openid(openid) or "")
    return text[:ERROR_LENGTH]


async def send_due(db: Database, sender: Sender, now: dt.datetime) -> int:
    """One pass: lease the notices due at ``now``, send them, record each outcome. Returns how many it tried."""
    claimed = await service.claim_due(db, now, limit=BATCH, lease=LEASE)
    for notification in claimed:
        openid, notice = notification.wechat_openid, service.notice_of(notification)
        try:
            via = await asyncio.wait_for(sender.send(openid, notice), SEND_TIMEOUT_S)
        except asyncio.CancelledError:
            raise  # shutting down: the lease brings the notice back
        except Exception as exc:  # transport failures and WeChat errors alike: try again later
            error = _describe(exc, openid)
            give_up = errcode(exc) in FOLLOWER_GONE_ERRORS
            status = await service.record_failure(db, notification, error, now, give_up=give_up)
            if status is NotificationStatus.FAILED:
                logger.error(
                    "gave up on %s notice %d to %s after %d attempts: %s",
                    notice.kind,
                    notification.id,
                    mask_openid(openid),
                    notification.attempts,
                    error,
                )
            else:
                logger.warning(
                    "%s notice %d to %s failed (attempt %d of %d): %s",
                    notice.kind,
                    notification.id,
                    mask_openid(openid),
                    notification.attempts,
                    MAX_ATTEMPTS,
                    error,
                )
            continue
        await service.record_sent(db, notification.id, str(via), now)
        logger.info("sent %s notice %d to %s by %s", notice.kind, notification.id, mask_openid(openid), via)
    return len(claimed)


async def run(db: Database, sender: Sender, interval_s: float) -> None:
    """Send due notices until cancelled; a failed pass (database away) is logged and the next one tries again."""
    while True:
        tried = 0
        try:
            tried = await send_due(db, sender, utcnow())
        except Exception:
            logger.exception("a pass of the notice sender failed; trying again in %.1f s", interval_s)
        if tried < BATCH:  # a full batch means more may be due: go on at once
            await asyncio.sleep(interval_s)


async def start(db: Database, settings: Settings) -> asyncio.Task[None] | None:
    """Start this worker's sender; None when it is switched off or WeChat is not configured (notices stay pending)."""
    if not settings.notifier_enabled:
        logger.info("the notice sender is switched off (NOTIFIER_ENABLED=0): WeChat notices stay pending")
        return None
    sender = await asyncio.to_thread(WeChatSender.from_env)
    if sender is None:
        logger.warning("WeChat is not configured (WECHAT_APPID, WECHAT_SECRET): WeChat notices stay pending")
        return None
    logger.info("sending WeChat notices every %.1f s", settings.notifier_interval_s)
    return asyncio.create_task(run(db, sender, settings.notifier_interval_s), name="notifier")


async def stop(task: asyncio.Task[None] | None) -> None:
    """Stop the sender (a notice it was sending comes back when its lease ends)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
