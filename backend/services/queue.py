"""The hall's queue: take a number, call the next one to a window, recall, skip, transfer, pause, the board.

Numbers come from a database counter per service day and category (A001, A002 … V001), so they are never
issued twice, also across restarts and replicas, and restart at 001 each day. 绿色通道 (V) tickets are
called first, but at most ``priority_streak_cap`` in a row while 综合 (A) tickets wait, so A never starves.
A ticket recalled ``max_recalls`` times and still not there is a no-show. A transferred ticket is called next by
the window it was sent to. Every change also writes a hall event in its own transaction; the board page, the LED
board and the announcements follow those events.

A number taken for a resident's conversation (the action server names its sender) is capped (`TicketCaps`): one
waiting number at a time and a few a day per sender, so nobody empties the day's numbers from a chat window. The
check and the insert run in one transaction, serialised per sender (SQLite's single writer; a PostgreSQL advisory
lock), so two requests at once cannot both pass. The hall's number machine and staff take numbers without a cap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import Database, violates_unique
from backend.errors import ApiError, conflict, not_found
from backend.models import (
    Channel,
    HallEvent,
    QueueTicket,
    ServiceWindow,
    TicketCategory,
    TicketStatus,
    utcnow,
)
from backend.notices import outbox
from backend.services import audit, documents, print_jobs
from backend.services.documents import FollowLinks
from backend.services.sequences import next_value
from vocabulary.id_numbers import age_on
from vocabulary.tickets import NEAR_AHEAD, category_for, format_ticket_number, priority_reason

logger = logging.getLogger(__name__)

TICKET_PRINTER = "ticket"
"""The counter's ticket printer, where a number taken there comes out."""
DEFAULT_SERVICE_MINUTES = 6.0
"""Minutes per resident assumed before today has enough served tickets to measure."""
RECENT_SERVED = 20
"""The estimated wait averages the service time of this many recently served tickets."""


@dataclass(frozen=True)
class NewTicket:
    """A number to take: its category and channel, who takes it, and for which department's business."""

    category: TicketCategory = TicketCategory.GENERAL
    channel: Channel = Channel.COUNTER
    wechat_openid: str | None = None
    """The follower told on WeChat when their turn is near."""
    department: str | None = None
    """Windows serving this department call the ticket first (any window may serve it)."""
    sender: str | None = None
    """The resident's conversation (channel and sender id) when the action server takes the number: capped
    (`TicketCaps`). The number machine and staff send none."""
    id_number: str | None = None
    """The resident's (valid) ID number when the caller knows it: read for the category only, never kept."""
    priority_reason: str | None = None
    """A reason the resident stated for the 绿色通道 (one of `vocabulary.tickets.PRIORITY_REASONS`)."""


@dataclass(frozen=True)
class Placed:
    """A ticket with the number of people expected to be served before it, and the expected wait."""

    ticket: QueueTicket
    ahead: int
    wait_minutes: int | None = None


@dataclass(frozen=True)
class TicketCaps:
    """How many numbers one resident's conversation may hold: waiting at once, and taken in a service day."""

    waiting: int = 1
    daily: int = 3


RESIDENT_CAPS = TicketCaps()
"""The caps of a number taken for a resident through the action server (WeChat, chat, a counter's session)."""


def sender_hash(sender: str) -> str:
    """What the database keeps of a sender: its SHA-256 (enough to count, nothing to read back)."""
    return hashlib.sha256(sender.encode()).hexdigest()


@dataclass(frozen=True)
class Taken:
    """The ticket a take answers with, and whether this request took it (False: a replay of its Idempotency-Key)."""

    placed: Placed
    created: bool
    priority_reason: str | None = None
    """Why the ticket is 绿色通道 (`vocabulary.tickets.priority_reason`): BY_AGE or the reason the resident stated."""


def _event(session: AsyncSession, today: dt.date, kind: str, number: str | None, window: int | None) -> None:
    session.add(HallEvent(service_day=today, kind=kind, number=number, window=window))


async def _estimated_wait(session: AsyncSession, today: dt.date, ahead: int, open_windows: int) -> int:
    """Minutes until a ticket with ``ahead`` people before it is called: their number times the recent average
    service time, shared by the open windows."""
    recent = (
        select(QueueTicket.called_at, QueueTicket.finished_at)
        .where(
            QueueTicket.service_day == today,
            QueueTicket.status == TicketStatus.SERVED,
            QueueTicket.called_at.is_not(None),
            QueueTicket.finished_at.is_not(None),
        )
        .order_by(QueueTicket.finished_at.desc())
        .limit(RECENT_SERVED)
    )
    spans = [(done - called).total_seconds() / 60 for called, done in (await session.execute(recent)).all()]
    per_resident = sum(spans) / len(spans) if len(spans) >= 3 else DEFAULT_SERVICE_MINUTES
    return round(ahead * per_resident / max(open_windows, 1))


async def _open_windows(session: AsyncSession, window_count: int) -> int:
    paused = await session.execute(select(func.count()).where(ServiceWindow.paused.is_(True)))
    return max(window_count - int(paused.scalar_one()), 1)


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


async def _ticket_for_key(session: AsyncSession, key: str, request: NewTicket) -> QueueTicket | None:
    """The ticket taken earlier with this Idempotency-Key, if any; 409 if that was a request for another kind of
    ticket (the key was reused, not retried). The OpenID is not compared: a follower may link a ticket later."""
    ticket = (await session.execute(select(QueueTicket).where(QueueTicket.idempotency_key == key))).scalar_one_or_none()
    if ticket is not None and (ticket.category, ticket.channel, ticket.department) != (
        request.category,
        request.channel,
        request.department,
    ):
        raise conflict("idempotency_key_reused", "这个请求编号已用于另一次取号，请勿重复使用。")
    return ticket


async def _placed(session: AsyncSession, ticket: QueueTicket, today: dt.date, open_windows: int) -> Placed:
    """The ticket with the people ahead of it and the expected wait."""
    ahead = await _ahead(session, ticket)
    return Placed(ticket, ahead, await _estimated_wait(session, today, ahead, open_windows))


async def take_ticket(
    db: Database,
    request: NewTicket,
    *,
    actor: str,
    today: dt.date,
    idempotency_key: str | None,
    window_count: int = 1,
    caps: TicketCaps | None = None,
    links: FollowLinks,
) -> Taken:
    """Issue the next number of the day in the category; a counter ticket is also spooled for printing (its QR code
    leading under ``links``). A request
    repeated with the same ``idempotency_key`` gets the ticket the first one took, also while the first still runs.
    With ``caps`` and the request's sender, a sender over a cap is refused with 429 (``ticket_waiting`` naming the
    waiting number, or ``ticket_daily_limit``). The category is the hall's rule's (`with_category`)."""
    request, reason = with_category(request, today)
    try:
        taken = await _take(
            db,
            request,
            actor=actor,
            today=today,
            idempotency_key=idempotency_key,
            window_count=window_count,
            caps=caps,
            links=links,
        )
        return replace(taken, priority_reason=reason)
    except IntegrityError as error:
        if not idempotency_key or not violates_unique(error, QueueTicket.__table__.c.idempotency_key):
            raise
        # Another request with the same key (a retry while this one ran) took its ticket after this one looked:
        # this one's transaction, its number included, was rolled back, and the resident gets that ticket.
        async with db.read() as session:
            existing = await _ticket_for_key(session, idempotency_key, request)
            if existing is None:
                raise
            placed = await _placed(session, existing, today, await _open_windows(session, window_count))
        logger.info("ticket %s: taken by a concurrent request with the same Idempotency-Key", existing.number)
        return Taken(placed, created=False, priority_reason=reason)


def with_category(request: NewTicket, today: dt.date) -> tuple[NewTicket, str | None]:
    """The request with the category the hall's rule gives it (`vocabulary.tickets.category_for`: 绿色通道 when asked
    for, for a stated reason, or for a resident of PRIORITY_AGE or over on ``today``) and without the ID number, and
    why it is 绿色通道 (None: asked for outright, or 综合)."""
    age = age_on(request.id_number, today) if request.id_number else None
    reason = priority_reason(age=age, stated=request.priority_reason)
    category = TicketCategory(category_for(requested=request.category.value, reason=reason))
    return replace(request, category=category, id_number=None), reason


async def _check_caps(session: AsyncSession, today: dt.date, sender: str, caps: TicketCaps) -> None:
    """Refuse (429) a sender who holds ``caps.waiting`` waiting numbers, or took ``caps.daily`` today."""
    if session.bind.dialect.name == "postgresql":
        # Held until the transaction ends: a second request of this sender waits here until this one's ticket is
        # committed (or not), then counts it. SQLite's write transactions are serialised already.
        lock = int.from_bytes(bytes.fromhex(sender[:16]), "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": lock})
    mine = select(QueueTicket).where(QueueTicket.service_day == today, QueueTicket.sender_hash == sender)
    waiting = list((await session.execute(mine.where(QueueTicket.status == TicketStatus.WAITING))).scalars())
    if len(waiting) >= caps.waiting:
        number = waiting[0].number
        raise ApiError(
            429,
            "ticket_waiting",
            f"您已经有一个号 {number} 在排队了，请留意叫号。叫到之后如果还要办别的事，可以再取号。",
            details={"number": number},
        )
    taken = (await session.execute(select(func.count()).select_from(mine.subquery()))).scalar_one()
    if taken >= caps.daily:
        raise ApiError(
            429,
            "ticket_daily_limit",
            f"您今天已经取了 {caps.daily} 个号，不能再取了。如需帮助，请到咨询台找工作人员。",
            details={"limit": caps.daily},
        )


async def _take(
    db: Database,
    request: NewTicket,
    *,
    actor: str,
    today: dt.date,
    idempotency_key: str | None,
    window_count: int,
    caps: TicketCaps | None,
    links: FollowLinks,
) -> Taken:
    """One attempt, in one transaction: the ticket of the key if it has one, else a new number (within the caps)."""
    sender = sender_hash(request.sender) if request.sender else None
    async with db.write() as session:
        open_windows = await _open_windows(session, window_count)
        if idempotency_key:
            existing = await _ticket_for_key(session, idempotency_key, request)
            if existing is not None:
                return Taken(await _placed(session, existing, today, open_windows), created=False)
        if caps is not None and sender is not None:
            await _check_caps(session, today, sender, caps)
        seq = await next_value(session, f"queue:{today.isoformat()}:{request.category.value}")
        ticket = QueueTicket(
            service_day=today,
            category=request.category,
            seq=seq,
            number=format_ticket_number(request.category.value, seq),
            channel=request.channel,
            status=TicketStatus.WAITING,
            wechat_openid=request.wechat_openid,
            sender_hash=sender,
            department=request.department,
            idempotency_key=idempotency_key,
        )
        session.add(ticket)
        await session.flush()
        ahead = await _ahead(session, ticket)
        if request.channel is Channel.COUNTER:
            printed = documents.ticket(ticket.number, ticket.category.value, ahead, today, links=links, now=utcnow())
            await print_jobs.spool(session, printed, printer=TICKET_PRINTER, ticket_id=ticket.id)
        audit.record(session, actor, "queue.take", "ticket", ticket.number, channel=request.channel.value)
        _event(session, today, "taken", ticket.number, None)
        wait = await _estimated_wait(session, today, ahead, open_windows)
    return Taken(Placed(ticket, ahead, wait), created=True)


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


async def call_next(
    db: Database,
    window: int,
    *,
    actor: str,
    today: dt.date,
    priority_streak_cap: int,
    departments: tuple[str, ...] = (),
    idempotency_key: str | None = None,
) -> QueueTicket:
    """Finish the window's current ticket and call the next one (its ``departments``' business first, when it
    serves some); 404 when nobody waits. A call repeated with the same ``idempotency_key`` (a keypad retrying
    after a timeout) returns the ticket the first one called and calls nobody else."""
    async with db.write() as session:
        if idempotency_key:
            called = select(QueueTicket).where(QueueTicket.call_key == idempotency_key)
            if (earlier := (await session.execute(called)).scalar_one_or_none()) is not None:
                return earlier
        if await _paused(session, window):
            raise conflict("window_paused", f"{window}号窗口已暂停叫号，请先恢复。")
        current = await _current(session, today, window)
        if current is not None:
            current.status, current.finished_at = TicketStatus.SERVED, utcnow()
        ticket = await _next_for(session, today, window, priority_streak_cap, departments)
        if ticket is not None:
            ticket.status, ticket.window, ticket.called_at = TicketStatus.CALLED, window, utcnow()
            ticket.assigned_window, ticket.call_key = None, idempotency_key
            audit.record(session, actor, "queue.call", "ticket", ticket.number, window=window)
            _event(session, today, "called", ticket.number, window)
            near = await _ticket_with_ahead(session, today, NEAR_AHEAD)
            if near is not None:
                await outbox.ticket_near(session, near, NEAR_AHEAD)
            return ticket
    raise not_found("queue_empty", "现在没有人在等候。")


async def _next_for(
    session: AsyncSession, today: dt.date, window: int, cap: int, departments: tuple[str, ...]
) -> QueueTicket | None:
    """A ticket transferred to this window first; then, at a department window, its departments' tickets; then the
    next by category (V first, within the cap)."""
    # skip_locked: two windows calling at once get different tickets.
    transferred = (
        select(QueueTicket)
        .where(
            QueueTicket.service_day == today,
            QueueTicket.status == TicketStatus.WAITING,
            QueueTicket.assigned_window == window,
        )
        .order_by(QueueTicket.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    ticket = (await session.execute(transferred)).scalar_one_or_none()
    if ticket is not None:
        return ticket
    filters = [QueueTicket.department.in_(departments)] if departments else []
    for only in [*filters, None]:
        for category in await _next_category(session, today, cap):
            candidate = _waiting_in_order(today, category).where(QueueTicket.assigned_window.is_(None))
            if only is not None:
                candidate = candidate.where(only)
            ticket = (await session.execute(candidate.limit(1).with_for_update(skip_locked=True))).scalar_one_or_none()
            if ticket is not None:
                return ticket
    return None


async def _paused(session: AsyncSession, window: int) -> bool:
    state = await session.get(ServiceWindow, window)
    return bool(state and state.paused)


async def recall(db: Database, window: int, *, actor: str, today: dt.date, max_recalls: int = 2) -> QueueTicket:
    """Call the window's current ticket again; after ``max_recalls`` recalls it is a no-show (skipped)."""
    async with db.write() as session:
        ticket = await _current(session, today, window)
        if ticket is None:
            raise not_found("nothing_called", f"{window}号窗口当前没有叫号。")
        if ticket.recalls >= max_recalls:
            ticket.status, ticket.finished_at = TicketStatus.SKIPPED, utcnow()
            audit.record(session, actor, "queue.no_show", "ticket", ticket.number, window=window)
            _event(session, today, "skipped", ticket.number, window)
            return ticket
        ticket.recalls += 1
        audit.record(session, actor, "queue.recall", "ticket", ticket.number, window=window, recalls=ticket.recalls)
        _event(session, today, "recalled", ticket.number, window)
    return ticket


async def skip(db: Database, window: int, *, actor: str, today: dt.date) -> QueueTicket:
    """Mark the window's current ticket as a no-show."""
    async with db.write() as session:
        ticket = await _current(session, today, window)
        if ticket is None:
            raise not_found("nothing_called", f"{window}号窗口当前没有叫号。")
        ticket.status, ticket.finished_at = TicketStatus.SKIPPED, utcnow()
        audit.record(session, actor, "queue.skip", "ticket", ticket.number, window=window)
        _event(session, today, "skipped", ticket.number, window)
    return ticket


async def transfer(db: Database, window: int, to: int, *, actor: str, today: dt.date) -> QueueTicket:
    """Send the window's current ticket to window ``to``, which calls it before anyone else."""
    if to == window:
        raise conflict("same_window", "不能转到本窗口。")
    async with db.write() as session:
        ticket = await _current(session, today, window)
        if ticket is None:
            raise not_found("nothing_called", f"{window}号窗口当前没有叫号。")
        ticket.status, ticket.window, ticket.assigned_window, ticket.recalls = TicketStatus.WAITING, None, to, 0
        audit.record(session, actor, "queue.transfer", "ticket", ticket.number, window=window, to=to)
        _event(session, today, "transferred", ticket.number, to)
    return ticket


async def set_paused(db: Database, window: int, paused: bool, *, actor: str, today: dt.date) -> bool:
    """Pause or resume a window's calling; repeating the same request changes nothing."""
    async with db.write() as session:
        state = await session.get(ServiceWindow, window, with_for_update=True)
        if state is None:
            state = ServiceWindow(number=window, paused=False)
            session.add(state)
        if state.paused is not paused:
            state.paused, state.changed_at = paused, utcnow()
            audit.record(session, actor, "queue.pause" if paused else "queue.resume", "window", str(window))
            _event(session, today, "paused" if paused else "resumed", None, window)
    return paused


async def board(db: Database, today: dt.date, window_count: int, *, upcoming: int = 3) -> dict[str, Any]:
    """What the hall's board shows: each window's number, the latest call still being served (the board's large
    line after a reload), the next numbers and how many wait, paused windows."""
    waiting, serving = await hall_status(db, today, window_count)
    async with db.read() as session:
        upcoming_numbers = {
            category.value: list((await session.execute(_waiting_in_order(today, category).limit(upcoming))).scalars())
            for category in TicketCategory
        }
        paused = await session.execute(select(ServiceWindow.number).where(ServiceWindow.paused.is_(True)))
        paused_windows = sorted(int(w) for w in paused.scalars() if 1 <= w <= window_count)
        newest = select(QueueTicket.window, QueueTicket.number).where(
            QueueTicket.service_day == today, QueueTicket.status == TicketStatus.CALLED
        )
        latest = (await session.execute(newest.order_by(QueueTicket.called_at.desc()).limit(1))).first()
    return {
        "service_day": today.isoformat(),
        "calling": [{"window": w, "number": serving[w]} for w in sorted(serving)],
        "latest": {"window": latest[0], "number": latest[1]} if latest and latest[0] in serving else None,
        "next": {c: [t.number for t in tickets] for c, tickets in upcoming_numbers.items()},
        "waiting": waiting,
        "paused": paused_windows,
    }


async def events_after(db: Database, after: int, *, limit: int = 100) -> list[HallEvent]:
    """Hall events newer than ``after``, oldest first."""
    async with db.read() as session:
        statement = select(HallEvent).where(HallEvent.id > after).order_by(HallEvent.id).limit(limit)
        return list((await session.execute(statement)).scalars())


async def last_event_id(db: Database) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.coalesce(func.max(HallEvent.id), 0)))).scalar_one())


async def find_ticket(db: Database, number: str, day: dt.date, window_count: int = 1) -> Placed:
    """A ticket of ``day`` by its number, with the people ahead of it and the expected wait."""
    async with db.read() as session:
        statement = select(QueueTicket).where(QueueTicket.service_day == day, QueueTicket.number == number)
        ticket = (await session.execute(statement)).scalar_one_or_none()
        if ticket is None:
            raise not_found("unknown_ticket", f"没有找到{day:%m月%d日}的{number[:8]}号。")
        ahead = await _ahead(session, ticket)
        wait = await _estimated_wait(session, day, ahead, await _open_windows(session, window_count))
        return Placed(ticket, ahead, wait if ticket.status is TicketStatus.WAITING else None)


async def window_states(db: Database) -> dict[int, ServiceWindow]:
    """The windows whose state was ever set (paused or resumed), by number."""
    async with db.read() as session:
        return {state.number: state for state in (await session.execute(select(ServiceWindow))).scalars()}


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
