"""A WeChat follower links a queue ticket to themselves by scanning its QR code, so the "3 people ahead" notice
(`backend.notices.outbox.ticket_near`) reaches them, as it reaches those who took their number on WeChat.

Invariants:

- Only a scene the backend signed links anything (`vocabulary.scenes`): a typed ``/follow_ticket{…}`` with a guessed or
  altered ticket is refused before the ticket is even looked up, so a refusal tells nothing about which numbers
  were issued.
- A ticket has one follower and keeps them: the first scanner (or whoever took the number on WeChat) is never
  replaced by a later scanner, who is told politely that someone already follows it. Scanning one's own ticket again
  changes nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backend.db import Database
from backend.errors import ApiError, conflict, not_found
from backend.models import QueueTicket, TicketStatus
from backend.services import audit
from backend.services.queue import Placed, find_ticket
from vocabulary.masking import mask_openid
from vocabulary.scenes import signature_valid

INVALID_SCENE = "这个二维码无效，请扫描号票上的二维码；如有疑问，请到咨询台询问。"


async def link_follower(
    db: Database,
    service_day: dt.date,
    number: str,
    openid: str,
    *,
    signature: str,
    scene_secret: bytes,
    actor: str,
    today: dt.date,
    window_count: int = 1,
) -> Placed:
    """Make ``openid`` the follower of the ticket whose signed scene was scanned; answer it with the people ahead
    and the expected wait. 403 for a scene the backend did not sign; 404 for a ticket that was never issued; 409 for
    one of another day, one no longer waiting (called, served, no-show) or one someone else already follows."""
    if not signature_valid(scene_secret, service_day, number, signature):
        raise ApiError(403, "scene_invalid", INVALID_SCENE)
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
        if ticket.wechat_openid not in (None, openid):
            audit.record(
                session, actor, "queue.follow_refused", "ticket", ticket.number, wechat_openid=mask_openid(openid)
            )
            message = f"{ticket.number}号已经有人关注了，不能再关注。如果这是您的号，请留意大厅叫号。"
            refusal = conflict("ticket_followed", message, details={"number": ticket.number})
        else:
            refusal = None
            if ticket.wechat_openid is None:
                ticket.wechat_openid = openid
                audit.record(session, actor, "queue.follow", "ticket", ticket.number, wechat_openid=mask_openid(openid))
    if refusal is not None:  # raised after the block, so the refusal's audit entry is committed
        raise refusal
    return await find_ticket(db, number, service_day, window_count)
