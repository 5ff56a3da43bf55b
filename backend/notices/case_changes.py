"""What a case's status change tells the resident: a WeChat notice, a notice printed at the window, or both.

`backend.services.cases.transition_case` calls `write_notices` inside the change's own write transaction, so the
notices exist exactly when the change committed (a refused or rolled-back change leaves none). Every notice has a
dedupe key naming its event, and both kinds are written with ``INSERT … ON CONFLICT DO NOTHING`` on that key, so
an event is told once however often it is replayed. Printed notices go to the window's receipt printer, spooled as
complete documents (`backend.services.documents`): the 补正 list and the reason are kept as they were at the change.

| Change to | WeChat notice (the case has an OpenID)  | Printed at the window (``print_jobs.kind``)           |
|-----------|-----------------------------------------|-------------------------------------------------------|
| 已受理    | 已受理 with the deadline; once per case | 受理回执 ``receipt``: always (the counter hands it    |
|           |                                         | over, WeChat or not); once per case                   |
| 待补正    | 补正 with the complete list; each round | 补正告知 ``correction_notice``: always; each round    |
| 办理中    | 办件状态变更; once per case             | nothing                                               |
| 办结      | 领取 (ready for pickup)                 | 领取通知 ``pickup_notice``: without an OpenID         |
| 已出件    | 办件状态变更 (if someone else took it)  | nothing: it was collected at the window               |
| 已送达    | 办件状态变更                            | nothing: the social worker brought it home            |
| 不予受理  | 办件状态变更 with the reason            | 不予受理告知 ``rejection_notice`` with the reason:    |
|           |                                         | without an OpenID                                     |
| 撤销      | 办件状态变更 with the reason            | 撤销告知 ``withdrawal_notice`` with the reason:       |
|           |                                         | without an OpenID                                     |

"Once per case": a case accepted again after 补正 keeps the deadline it was first given, and comes back to 办理中
after the resident's own visit with the materials, so neither is told twice. Each round of 补正 is its own event (the
list may differ); the number of earlier rounds of the same channel makes its key.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.case_status import CaseStatus
from backend.models import Case, Notification, NotificationKind, PrintJob, utcnow
from backend.notices import outbox
from backend.notices.outbox import chinese_date
from backend.services import documents
from backend.services.documents import FollowLinks
from backend.services.print_jobs import spool
from wechat import templates
from wechat.templates import Notice

logger = logging.getLogger(__name__)

WINDOW_PRINTER = "receipt"
"""The window's receipt printer, where printed notices come out to be handed over (or posted, or given to the
social worker)."""
PRINTED_WITHOUT_OPENID = {
    CaseStatus.COMPLETED: "pickup_notice",
    CaseStatus.REJECTED: "rejection_notice",
    CaseStatus.WITHDRAWN: "withdrawal_notice",
}
"""Changes told on paper only when the resident cannot be told on WeChat."""
TOLD_AS_STATUS_CHANGE = frozenset(
    {CaseStatus.PROCESSING, CaseStatus.HANDED_OUT, CaseStatus.DELIVERED, CaseStatus.REJECTED, CaseStatus.WITHDRAWN}
)
"""Changes told on WeChat with the generic 办件状态变更 notice."""


async def write_notices(
    session: AsyncSession,
    case: Case,
    *,
    item_name: str,
    missing: Sequence[str],
    today: dt.date,
    links: FollowLinks,
) -> None:
    """Write the notices the case's new status calls for (see the table above), in the caller's transaction; printed
    QR codes lead under ``links``."""
    if case.wechat_openid:
        await _tell_on_wechat(session, case, case.wechat_openid, item_name=item_name, missing=missing, today=today)
    await _print_at_window(session, case, item_name=item_name, missing=missing, links=links)


async def _tell_on_wechat(
    session: AsyncSession, case: Case, openid: str, *, item_name: str, missing: Sequence[str], today: dt.date
) -> None:
    number, status = case.case_number, case.status
    notice: Notice
    if status is CaseStatus.ACCEPTED:
        deadline = chinese_date(case.deadline) if case.deadline and not case.immediate else None
        notice = templates.case_accepted(number, item_name, chinese_date(today), deadline)
        key = f"case:{number}:accepted"
    elif status is CaseStatus.NEEDS_CORRECTION:
        earlier = select(func.count(Notification.id)).where(
            Notification.subject == number, Notification.kind == NotificationKind.CORRECTION_NEEDED
        )
        rounds = int((await session.execute(earlier)).scalar_one())
        notice = templates.correction_needed(number, item_name, missing)
        key = f"case:{number}:correction:{rounds + 1}"
    elif status is CaseStatus.COMPLETED:
        notice = templates.ready_for_pickup(number, item_name)
        key = f"case:{number}:ready"
    elif status in TOLD_AS_STATUS_CHANGE:
        notice = templates.case_status(number, item_name, status.value, status.label, case.status_reason)
        key = f"case:{number}:{status.value}"
    else:
        return
    await outbox.enqueue(session, notice, openid, number, key)


async def _print_at_window(
    session: AsyncSession, case: Case, *, item_name: str, missing: Sequence[str], links: FollowLinks
) -> None:
    number, status = case.case_number, case.status
    if status is CaseStatus.ACCEPTED:
        # The receipt is the 一次性告知 given at acceptance: it says then, and what was missing then, however late the
        # printer gets to it (the document keeps them).
        kind, key = "receipt", f"case:{number}:receipt"
    elif status is CaseStatus.NEEDS_CORRECTION:
        earlier = select(func.count(PrintJob.id)).where(
            PrintJob.case_number == number, PrintJob.kind == "correction_notice", PrintJob.dedupe_key.is_not(None)
        )
        rounds = int((await session.execute(earlier)).scalar_one())
        kind, key = "correction_notice", f"case:{number}:correction_notice:{rounds + 1}"
    elif status in PRINTED_WITHOUT_OPENID and not case.wechat_openid:
        kind, key = PRINTED_WITHOUT_OPENID[status], f"case:{number}:{PRINTED_WITHOUT_OPENID[status]}"
    else:
        return
    document = documents.for_case(kind, case, item_name=item_name, links=links, now=utcnow(), missing=missing)
    if await spool(session, document, printer=WINDOW_PRINTER, case_number=number, dedupe_key=key) is not None:
        logger.info("spooled a %s about %s on the %s printer", kind, number, WINDOW_PRINTER)
