"""The hall's queue: take a number, call the next one to a window, recall, skip, status.

Numbers come from a database counter per service day and category (A001, A002 … V001), so they are never
issued twice, also across restarts and replicas, and restart at 001 each day. 绿色通道 (V) tickets are
called first, but at most ``priority_streak_cap`` in a row while 综合 (A) tickets wait, so A never starves.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.api.schemas import TicketCreate
from backend.db import Database
from backend.errors import not_found
from backend.models import Channel, PrintJob, PrintJobStatus, QueueTicket, TicketCategory, TicketStatus, utcnow
from backend.services import audit, notifications
from backend.services.counters import next_value


@dataclass(frozen=True)
class Placed:
    """A ticket with the number of people expected to be served before it."""

    ticket: QueueTicket
    ahead: int


def _people_ahead(category: TicketCategory, earlier_same: int, priority_waiting: int) -> int:
    """The rule of ``ahead``: the earlier waiting tickets of the same category and, for a 综合 (A) ticket, every
    waiting 绿色通道 (V) ticket, since those are called first (within the fairness cap)."""
    return earlier_same + (priority_waiting if category is TicketCategory.GENERAL else 0)


async def _ahead(session: AsyncSession, ticket: QueueTicket) -> int:
    if ticket.status is not TicketStatus.WAITING:
        return 0
    waiting = select(func.count(QueueTicket.id)).where(
        QueueTicket.service_day == ticket.service_day, QueueTicket.status == TicketStatus.WAITING
    )
    same = waiting.where(QueueTicket.category == ticket.category, QueueTicket.seq < ticket.seq)
    count = (await session.execute(same)).scalar_one()
    priority = 0
    if ticket.category is TicketCategory.GENERAL:
        priority = (await session.execute(waiting.where(QueueTicket.category == TicketCategory.PRIORITY))).scalar_one()
    return _people_ahead(ticket.category, int(count), int(priority))


def _waiting_in_order(today: dt.date, category: TicketCategory) -> Select:
    """Today's waiting tickets of one category, first come first served."""
    return (
        select(QueueTicket)
        .where(
            QueueTicket.service_day == today,
            QueueTicket.category == category,
            QueueTicket.status == TicketStatus.WAITING,
        )
        .order_by(QueueTicket.seq)
    )


async def _ticket_with_ahead(session: AsyncSession, today: dt.date, ahead: int) -> QueueTicket | None:
    """The waiting ticket with exactly ``ahead`` people ahead of it, by the rule of ``_ahead``, in two queries.

    Only the first ``ahead + 1`` waiting tickets of each category can qualify, and they also tell whether more than
    ``ahead`` V tickets wait (which puts every A ticket further back). At most one ticket qualifies.
    """
    heads: dict[TicketCategory, list[QueueTicket]] = {}
    for category in TicketCategory:
        heads[category] = list((await session.execute(_waiting_in_order(today, category).limit(ahead + 1))).scalars())
    priority_waiting = len(heads[TicketCategory.PRIORITY])
    for category, tickets in heads.items():
        for earlier, ticket in enumerate(tickets):
            if _people_ahead(category, earlier, priority_waiting) == ahead:
                return ticket
    return None


async def take_ticket(
    db: Database,
    request: TicketCreate,
    *,
    actor: str,
    today: dt.date,
    idempotency_key: str | None,
) -> Placed:
    """Issue the next number of the day in the category; a counter ticket is also spooled for printing."""
    async with db.write() as session:
        if idempotency_key:
            found = await session.execute(select(QueueTicket).where(QueueTicket.idempotency_key == idempotency_key))
            existing = found.scalar_one_or_none()
            if existing is not None:
                return Placed(existing, await _ahead(session, existing))
        seq = await next_value(session, f"queue:{today.isoformat()}:{request.category.value}")
        ticket = QueueTicket(
            service_day=today,
            category=request.category,
            seq=seq,
            number=f"{request.category.value}{seq:03d}",
            channel=request.channel,
            status=TicketStatus.WAITING,
            wechat_openid=request.wechat_openid,
            idempotency_key=idempotency_key,
        )
        session.add(ticket)
        await session.flush()
        ahead = await _ahead(session, ticket)
        if request.channel is Channel.COUNTER:
            payload = {
                "number": ticket.number,
                "category": ticket.category.value,
                "ahead": ahead,
                "service_day": today.isoformat(),
            }
            session.add(
                PrintJob(
                    kind="ticket", printer="ticket", status=PrintJobStatus.QUEUED, payload=payload, ticket_id=ticket.id
                )
            )
        audit.record(session, actor, "queue.take", "ticket", ticket.number, channel=request.channel.value)
    return Placed(ticket, ahead)


async def _current(session: AsyncSession, today: dt.date, window: int) -> QueueTicket | None:
    statement = select(QueueTicket).where(
        QueueTicket.service_day == today, QueueTicket.window == window, QueueTicket.status == TicketStatus.CALLED
    )
    return (await session.execute(statement.with_for_update())).scalars().first()


async def _next_category(session: AsyncSession, today: dt.date, cap: int) -> list[TicketCategory]:
    """Categories to try, in order: V first unless the last ``cap`` calls were all V."""
    recent = (
        select(QueueTicket.category)
        .where(QueueTicket.service_day == today, QueueTicket.called_at.is_not(None))
        .order_by(QueueTicket.called_at.desc(), QueueTicket.id.desc())
        .limit(cap)
    )
    last = list((await session.execute(recent)).scalars())
    if cap > 0 and len(last) == cap and all(c is TicketCategory.PRIORITY for c in last):
        return [TicketCategory.GENERAL, TicketCategory.PRIORITY]
    return [TicketCategory.PRIORITY, TicketCategory.GENERAL]


async def call_next(db: Database, window: int, *, actor: str, today: dt.date, priority_streak_cap: int) -> QueueTicket:
    """Finish the window's current ticket and call the next one; 404 when nobody waits."""
    async with db.write() as session:
        current = await _current(session, today, window)
        if current is not None:
            current.status, current.finished_at = TicketStatus.SERVED, utcnow()
        for category in await _next_category(session, today, priority_streak_cap):
            # skip_locked: two windows calling at once get different tickets.
            candidate = _waiting_in_order(today, category).limit(1).with_for_update(skip_locked=True)
            ticket = (await session.execute(candidate)).scalar_one_or_none()
            if ticket is not None:
                ticket.status, ticket.window, ticket.called_at = TicketStatus.CALLED, window, utcnow()
                audit.record(session, actor, "queue.call", "ticket", ticket.number, window=window)
                near = await _ticket_with_ahead(session, today, notifications.NEAR_AHEAD)
                if near is not None:
                    await notifications.ticket_near(session, near, notifications.NEAR_AHEAD)
                return ticket
    raise not_found("queue_empty", "现在没有人在等候。")


async def recall(db: Database, window: int, *, actor: str, today: dt.date) -> QueueTicket:
    """Call the window's current ticket again."""
    async with db.write() as session:
        ticket = await _current(session, today, window)
        if ticket is None:
            raise not_found("nothing_called", f"{window}号窗口当前没有叫号。")
        ticket.recalls += 1
        audit.record(session, actor, "queue.recall", "ticket", ticket.number, window=window, recalls=ticket.recalls)
    return ticket


async def skip(db: Database, window: int, *, actor: str, today: dt.date) -> QueueTicket:
    """Mark the window's current ticket as a no-show."""
    async with db.write() as session:
        ticket = await _current(session, today, window)
        if ticket is None:
            raise not_found("nothing_called", f"{window}号窗口当前没有叫号。")
        ticket.status, ticket.finished_at = TicketStatus.SKIPPED, utcnow()
        audit.record(session, actor, "queue.skip", "ticket", ticket.number, window=window)
    return ticket


async def find_ticket(db: Database, number: str, day: dt.date) -> Placed:
    """A ticket of ``day`` by its number, with the people ahead of it."""
    async with db.read() as session:
        statement = select(QueueTicket).where(QueueTicket.service_day == day, QueueTicket.number == number)
        ticket = (await session.execute(statement)).scalar_one_or_none()
        if ticket is None:
            raise not_found("unknown_ticket", f"没有找到{day:%m月%d日}的{number[:8]}号。")
        return Placed(ticket, await _ahead(session, ticket))


async def hall_status(db: Database, today: dt.date, window_count: int) -> tuple[dict[str, int], dict[int, str]]:
    """(waiting per category, number being served per window)."""
    async with db.read() as session:
        counts = await session.execute(
            select(QueueTicket.category, func.count(QueueTicket.id))
            .where(QueueTicket.service_day == today, QueueTicket.status == TicketStatus.WAITING)
            .group_by(QueueTicket.category)
        )
        waiting = {c.value: 0 for c in TicketCategory} | {c.value: int(n) for c, n in counts}
        called = await session.execute(
            select(QueueTicket.window, QueueTicket.number).where(
                QueueTicket.service_day == today, QueueTicket.status == TicketStatus.CALLED
            )
        )
        serving = {int(w): n for w, n in called if w is not None and 1 <= w <= window_count}
    return waiting, serving
