"""WeChat notices to residents (the outbox): written in the transaction of the change they report, sent later.

A case's status change (`backend.notices.case_changes` decides which notice it calls for) or a queue call writes
its notice with `enqueue` inside its own write transaction, so a notice exists exactly when its change committed:
never lost, never sent for a change that rolled back. Each notice has a dedupe key naming its event, so a retried
change cannot write a second.
`backend.notices.sender` claims due notices with a lease (like the print spool), sends them, and records the outcome.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import Database
from backend.models import Notification, NotificationKind, NotificationStatus, QueueTicket, utcnow
from vocabulary.masking import mask_openid
from wechat import templates
from wechat.templates import Notice

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
"""After this many failed attempts a notice is marked failed (and kept for staff)."""
FIRST_RETRY_S = 5
"""Wait after the first failure; it doubles after each further one (5 s, 10 s, 20 s …)."""
MAX_RETRY_S = 600
"""The longest wait between two attempts."""


def chinese_date(day: dt.date) -> str:
    """A date as residents read it in a notice: 2026年12月10日."""
    return f"{day.year}年{day.month}月{day.day}日"


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait before the next attempt of a notice that has failed ``attempts`` times."""
    return dt.timedelta(seconds=min(FIRST_RETRY_S * 2 ** max(attempts - 1, 0), MAX_RETRY_S))


def notice_of(notification: Notification) -> Notice:
    """The notice stored in a row's payload."""
    payload = notification.payload
    return Notice(kind=payload["kind"], fields=dict(payload["fields"]), text=payload["text"])


async def enqueue(session: AsyncSession, notice: Notice, openid: str, subject: str, dedupe_key: str) -> bool:
    """Add ``notice`` for ``openid`` unless a notice with ``dedupe_key`` exists; True when this call added it.

    One ``INSERT … ON CONFLICT DO NOTHING`` on both databases, so even two racing transactions write one row.
    """
    now = utcnow()
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = insert(Notification).values(
        kind=NotificationKind(notice.kind),
        wechat_openid=openid,
        subject=subject,
        payload={"kind": notice.kind, "fields": dict(notice.fields), "text": notice.text},
        dedupe_key=dedupe_key,
        status=NotificationStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Notification.id)
    added = (await session.execute(statement)).scalar_one_or_none() is not None
    if added:
        logger.info("queued a %s notice about %s for %s", notice.kind, subject, mask_openid(openid))
    return added


async def ticket_near(session: AsyncSession, ticket: QueueTicket, ahead: int) -> None:
    """Tell a WeChat ticket's holder to come back to the hall (once per ticket, however the queue moves)."""
    if not ticket.wechat_openid:
        return
    notice = templates.queue_near(ticket.number, ahead)
    await enqueue(session, notice, ticket.wechat_openid, ticket.number, f"ticket:{ticket.id}:near")


async def list_notifications(
    db: Database, *, status: NotificationStatus | None, subject: str | None, limit: int
) -> list[Notification]:
    """Notices, newest first, filtered by status and by the case or ticket number they are about."""
    statement = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        statement = statement.where(Notification.status == status)
    if subject:
        statement = statement.where(Notification.subject == subject)
    async with db.read() as session:
        return list((await session.execute(statement)).scalars())


def _due(now: dt.datetime) -> ColumnElement[bool]:
    return (Notification.status == NotificationStatus.PENDING) & (Notification.next_attempt_at <= now)


async def claim_due(db: Database, now: dt.datetime, *, limit: int, lease: dt.timedelta) -> list[Notification]:
    """Lease up to ``limit`` due notices, oldest first: each counts an attempt and is not due again until the lease
    ends, so another worker cannot take it meanwhile, and one whose sender died is sent again afterwards."""
    async with db.read() as session:
        # Most passes find nothing: look before taking the write lock (SQLite) or any row lock (PostgreSQL).
        if (await session.execute(select(Notification.id).where(_due(now)).limit(1))).first() is None:
            return []
    async with db.write() as session:
        statement = (
            select(Notification)
            .where(_due(now))
            .order_by(Notification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = []
        for notification in (await session.execute(statement)).scalars():
            if notification.attempts >= MAX_ATTEMPTS:  # the sender stopped during the last attempt
                notification.status = NotificationStatus.FAILED
                notification.last_error = notification.last_error or "the sender stopped during the last attempt"
                continue
            notification.attempts += 1
            notification.next_attempt_at = now + lease
            claimed.append(notification)
    return claimed


async def record_sent(db: Database, notification_id: int, via: str, now: dt.datetime) -> None:
    """Mark a claimed notice sent (only if still pending: a late duplicate changes nothing)."""
    async with db.write() as session:
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.status == NotificationStatus.PENDING)
            .values(status=NotificationStatus.SENT, via=via, sent_at=now)
        )


async def record_failure(
    db: Database, notification: Notification, error: str, now: dt.datetime, *, give_up: bool = False
) -> NotificationStatus:
    """Schedule the next attempt of a claimed notice with exponential backoff, or mark it failed after the last one
    (or at once with ``give_up``: the follower is gone)."""
    final = give_up or notification.attempts >= MAX_ATTEMPTS
    values: dict[str, object] = {"last_error": error}
    if final:
        values["status"] = NotificationStatus.FAILED
    else:
        values["next_attempt_at"] = now + retry_delay(notification.attempts)
    async with db.write() as session:
        await session.execute(
            update(Notification)
            .where(Notification.id == notification.id, Notification.status == NotificationStatus.PENDING)
            .values(**values)
        )
    return NotificationStatus.FAILED if final else NotificationStatus.PENDING
