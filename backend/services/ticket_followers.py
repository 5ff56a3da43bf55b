"""A WeChat follower links a queue ticket to themselves by scanning its QR code: the ticket's ``wechat_openid`` is
set (the latest scanner wins), so the "3 people ahead" notice (`backend.services.notifications.ticket_near`) reaches
them, as it reaches those who took their number on WeChat."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backend.db import Database
from backend.errors import conflict, not_found
from backend.models import QueueTicket, TicketStatus
from backend.services import audit
from backend.services.queue import Placed, find_ticket
from wechat.openids import mask_openid


async def link_follower(
    db: Database,
    service_day: dt.date,
    number: str,
    openid: str,
    *,
    actor: str,
    today: dt.date,
    window_count: int = 1,
) -> Placed:
    """Make ``openid`` the follower of the ticket; answer it with the people ahead and the expected wait. 404 for a
    ticket that was never issued; 409 for one of another day, or one no longer waiting (called, served, no-show)."""
    async with db.write() as session:
        statement = select(QueueTicket).where(QueueTicket.service_day == service_day, QueueTicket.number == number)
        ticket = (await session.execute(statement.with_for_update())).scalar_one_or_none()
        if ticket is None:
            raise not_found("unknown_ticket", f"没有找到{service_day:%m月%d日}的{number[:8]}号。")
        if service_day != today:
            raise conflict("ticket_expired", f"{ticket.number}号是{service_day:%m月%d日}的号码，已经过期了。")
        if ticket.status is not TicketStatus.WAITING:
            details = {"status": ticket.status.value, "window": ticket.window}
            message = f"{ticket.number}号已经叫过了，不能再关注。"
            raise conflict("ticket_not_waiting", message, details=details)
        ticket.wechat_openid = openid
        audit.record(session, actor, "queue.follow", "ticket", ticket.number, wechat_openid=mask_openid(openid))
    return await find_ticket(db, number, service_day, window_count)
