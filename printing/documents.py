"""The documents the centre prints, one frozen model per kind, each complete: the printer worker needs nothing else.

A document is made when its job is spooled (a counter ticket taken, a case's status changed, staff asking for a
copy), with every field it prints as it was then, its QR code's final address and personal numbers already masked.
It is stored as JSON in the spool and read back with `parse_document`; ``kind`` tells the kinds apart.

=====================  =====================  =================================================================
``kind``               Model                  Printed
=====================  =====================  =================================================================
``ticket``             `QueueTicket`          排队取号: number, category, people ahead, QR code (WeChat's or the
                                              ticket's page, ``qr_kind`` says which)
``receipt``            `AcceptanceReceipt`    受理回执: materials received, everything missing (一次告知), the
                                              deadline, the case page's QR code and the 查询码
``correction_notice``  `CorrectionNotice`     补正材料告知: the complete list of what is missing this round
``pickup_notice``      `PickupNotice`         领取通知: the result is ready at the window
``rejection_notice``   `RejectionNotice`      不予受理告知 with the reason staff gave
``withdrawal_notice``  `WithdrawalNotice`     撤销告知 with the reason
=====================  =====================  =================================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from vocabulary.case_numbers import is_case_number
from vocabulary.tickets import CATEGORIES, is_ticket_number

WECHAT_QR = "wechat"
"""A ticket's QR code made by WeChat: scanning it follows the ticket there, so the ticket promises a reminder."""
PAGE_QR = "page"
"""A ticket's QR code leading to its page: the place in the queue, no reminder."""
QrKind = Literal["wechat", "page"]


def _ticket_number(value: str) -> str:
    if not is_ticket_number(value):
        raise ValueError("not a queue ticket's number (A012)")
    return value


def _category(value: str) -> str:
    if value not in CATEGORIES:
        raise ValueError(f"a ticket's category is one of {', '.join(CATEGORIES)}")
    return value


def _case_number(value: str) -> str:
    if not is_case_number(value):
        raise ValueError("not a case number (JJ-20261126-0001)")
    return value


def _masked(value: str) -> str:
    if value and ("*" not in value or sum(ch.isdigit() for ch in value) > 10):
        raise ValueError("an ID number is printed masked (3301**********123X)")
    return value


Text = Annotated[str, Field(max_length=200)]
Names = Annotated[tuple[Annotated[str, Field(max_length=200)], ...], Field(max_length=100)]
Url = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^https?://")]
MaskedIdNumber = Annotated[str, Field(max_length=40), AfterValidator(_masked)]
CaseNumber = Annotated[str, AfterValidator(_case_number)]


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    issued_at: AwareDatetime
    """When the event it reports happened (the ticket taken, the case changed, staff asked for a copy); printed in
    the centre's time zone."""


class QueueTicket(_Document):
    """排队取号: the number a resident took at the counter."""

    kind: Literal["ticket"] = "ticket"
    number: Annotated[str, AfterValidator(_ticket_number)]
    category: Annotated[str, AfterValidator(_category)]
    """A 综合窗口, V 绿色通道."""
    ahead: Annotated[int, Field(ge=0)]
    """People served before it when it was taken."""
    service_day: dt.date
    qr: Url
    """What its QR code encodes: WeChat's code to follow it, or its page."""
    qr_kind: QrKind
    """WECHAT_QR or PAGE_QR: only WeChat's code can bring a reminder, so only it promises one."""


class _CaseDocument(_Document):
    case_number: CaseNumber
    item_name: Text


class _ResidentDocument(_CaseDocument):
    resident_name: Text
    resident_id_number: MaskedIdNumber
    """Masked: the paper may be lost, shown or left at the window."""


class AcceptanceReceipt(_ResidentDocument):
    """受理回执: the 一次性告知 given at acceptance, with the case page's QR code and the 查询码."""

    kind: Literal["receipt"] = "receipt"
    accepted_at: AwareDatetime
    received: Names = ()
    """Materials handed in."""
    looked_up: Names = ()
    """Materials the system verified, nothing to hand in."""
    missing: Names = ()
    """Everything still missing, at acceptance."""
    immediate: bool
    """即办件: done on the spot once the materials are complete."""
    deadline: dt.date | None = None
    """承诺件: the promised day (None: counted in working days, ``working_days``)."""
    deadline_provisional: bool = False
    """The deadline falls where the holiday calendar is not yet published."""
    working_days: Annotated[int, Field(ge=0)] = 0
    follow_url: Url
    """The case page's signed address (its QR code)."""
    receipt_code: Annotated[str, Field(pattern=r"^\d{4,8}$")]
    """The 查询码: with the case number, it lets the resident ask about the case without the QR code."""


class CorrectionNotice(_CaseDocument):
    """补正材料告知: the complete list of what is missing, so the resident comes back only once."""

    kind: Literal["correction_notice"] = "correction_notice"
    missing: Annotated[Names, Field(min_length=1)]


class PickupNotice(_CaseDocument):
    """领取通知: the result is ready at the window."""

    kind: Literal["pickup_notice"] = "pickup_notice"


class RejectionNotice(_ResidentDocument):
    """不予受理告知: the decision and the reason staff gave."""

    kind: Literal["rejection_notice"] = "rejection_notice"
    reason: Annotated[str, Field(max_length=1000)] | None = None


class WithdrawalNotice(_ResidentDocument):
    """撤销告知: the case is withdrawn, and why."""

    kind: Literal["withdrawal_notice"] = "withdrawal_notice"
    reason: Annotated[str, Field(max_length=1000)] | None = None


Document = Annotated[
    QueueTicket | AcceptanceReceipt | CorrectionNotice | PickupNotice | RejectionNotice | WithdrawalNotice,
    Field(discriminator="kind"),
]
"""Any printed document; its ``kind`` says which."""
CaseDocument = AcceptanceReceipt | CorrectionNotice | PickupNotice | RejectionNotice | WithdrawalNotice
DocumentKind = Literal[
    "ticket", "receipt", "correction_notice", "pickup_notice", "rejection_notice", "withdrawal_notice"
]
CASE_KINDS: tuple[str, ...] = ("receipt", "correction_notice", "pickup_notice", "rejection_notice", "withdrawal_notice")
"""Kinds about a case, made from the case."""

_DOCUMENT: TypeAdapter[Document] = TypeAdapter(Document)


def parse_document(data: Mapping[str, Any]) -> Document:
    """The document stored as ``data`` (JSON from the spool); pydantic's ValidationError when it is not one."""
    return _DOCUMENT.validate_python(data)


def document_json(document: Document) -> dict[str, Any]:
    """The document as JSON to store or send."""
    return document.model_dump(mode="json")
