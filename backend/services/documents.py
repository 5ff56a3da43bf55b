"""The documents the backend spools for printing (`printing.documents`), made complete from its rows.

A document is made once, when its job is spooled, with everything it prints: the resident's ID number masked, the
addresses of its QR code final (the /follow pages under FOLLOW_URL, a case's link signed with the follow secret)
and the 查询码. What a notice reports (the 补正 list, the reason) is taken as it was at the change, however late the
printer gets to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from backend.catalog.checklist import Need
from backend.models import Case, as_utc
from backend.services.case_access import receipt_code
from printing.documents import (
    PAGE_QR,
    AcceptanceReceipt,
    CaseDocument,
    CorrectionNotice,
    PickupNotice,
    QueueTicket,
    RejectionNotice,
    WithdrawalNotice,
)
from vocabulary.follow_urls import case_url, ticket_url
from vocabulary.masking import mask_id_number


@dataclass(frozen=True)
class FollowLinks:
    """Where printed QR codes lead: the /follow pages at ``base_url`` (FOLLOW_URL), case links signed with
    ``secret`` (the follow secret)."""

    base_url: str
    secret: bytes

    def ticket_page(self, service_day: dt.date, number: str) -> str:
        """The ticket's page: its place in the queue."""
        return ticket_url(self.base_url, service_day, number)

    def case_page(self, case_number: str) -> str:
        """The case's page, its link signed."""
        return case_url(self.base_url, self.secret, case_number)


def ticket(
    number: str, category: str, ahead: int, service_day: dt.date, *, links: FollowLinks, now: dt.datetime
) -> QueueTicket:
    """A counter ticket, its QR code the ticket's page (the ticket printer's first claim may put WeChat's in its
    place: `backend.services.print_jobs.attach_wechat_code`)."""
    page = links.ticket_page(service_day, number)
    return QueueTicket(
        issued_at=now,
        number=number,
        category=category,
        ahead=ahead,
        service_day=service_day,
        qr=page,
        qr_kind=PAGE_QR,
    )


def for_case(
    kind: str,
    case: Case,
    *,
    item_name: str,
    links: FollowLinks,
    now: dt.datetime,
    missing: Sequence[str] | None = None,
) -> CaseDocument:
    """The ``kind`` document about ``case`` (with its resident and materials loaded); ``missing``: the 补正 list to
    tell (default: what the case misses now). ValueError for a kind that is not about a case."""
    missing = list(missing if missing is not None else (m.name for m in case.materials if m.status is Need.MISSING))
    number = case.case_number
    common = {"issued_at": now, "case_number": number, "item_name": item_name}
    resident = {
        "resident_name": case.resident.name,
        "resident_id_number": mask_id_number(case.resident.id_number) or "",
    }
    if kind == "receipt":
        return AcceptanceReceipt(
            **common,
            **resident,
            accepted_at=as_utc(case.accepted_at) or now,
            received=tuple(m.name for m in case.materials if m.status is Need.RECEIVED),
            looked_up=tuple(m.name for m in case.materials if m.status is Need.LOOKED_UP),
            missing=tuple(missing),
            immediate=case.immediate,
            deadline=case.deadline,
            deadline_provisional=case.deadline_provisional,
            working_days=case.working_days,
            follow_url=links.case_page(number),
            receipt_code=receipt_code(links.secret, number),
        )
    if kind == "correction_notice":
        return CorrectionNotice(**common, missing=tuple(missing))
    if kind == "pickup_notice":
        return PickupNotice(**common)
    if kind == "rejection_notice":
        return RejectionNotice(**common, **resident, reason=case.status_reason)
    if kind == "withdrawal_notice":
        return WithdrawalNotice(**common, **resident, reason=case.status_reason)
    raise ValueError(f"{kind!r} is not a document about a case")
