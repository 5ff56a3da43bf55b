"""Cases as staff see them in the console: narrowed to what each role may see, a role's inbox, one case's record.

`visible` narrows every query of cases, so a department cannot even open another department's case by guessing its
number; a social worker sees the cases they filed for residents; the front desk and admins see every case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from backend.case_status import CaseStatus
from backend.db import Database
from backend.models import AuditEntry, Case, Channel, Notification, PrintJob, StaffRole, StaffUser

OPEN = (CaseStatus.SUBMITTED, CaseStatus.ACCEPTED, CaseStatus.NEEDS_CORRECTION, CaseStatus.PROCESSING)
"""Statuses in which the promised deadline still runs."""


def visible(statement: Select, user: StaffUser) -> Select:
    """``statement`` (over cases) narrowed to the cases ``user`` may see."""
    if user.role is StaffRole.DEPARTMENT:
        return statement.where(Case.department == user.department)
    if user.role is StaffRole.SOCIAL_WORKER:
        return statement.where(Case.proxy_staff == user.username)
    return statement


def is_overdue(case: Case, today: dt.date) -> bool:
    """True when the case is still open past its deadline."""
    return case.status in OPEN and case.deadline is not None and case.deadline < today


async def visible_case(db: Database, user: StaffUser, case_number: str) -> Case | None:
    """The case ``case_number`` if ``user`` may see it, else None."""
    statement = visible(select(Case).where(Case.case_number == case_number[:20]), user)
    async with db.read() as session:
        return (await session.execute(statement)).unique().scalar_one_or_none()


@dataclass(frozen=True)
class InboxFilter:
    """Which cases an inbox page lists (all filters combined with AND; empty ``statuses``: every status)."""

    statuses: tuple[CaseStatus, ...]
    item_id: str | None
    channel: Channel | None
    overdue: bool
    number: str | None
    """The start of a case number."""
    page: int


async def inbox(
    db: Database, user: StaffUser, where: InboxFilter, *, today: dt.date, page_size: int
) -> tuple[int, list[Case]]:
    """(how many cases match, the page asked for, newest first), among the cases ``user`` may see."""
    statement = visible(select(Case), user)
    if where.statuses:
        statement = statement.where(Case.status.in_(where.statuses))
    if where.item_id:
        statement = statement.where(Case.item_id == where.item_id)
    if where.channel:
        statement = statement.where(Case.channel == where.channel)
    if where.overdue:
        statement = statement.where(Case.status.in_(OPEN), Case.deadline < today)
    if where.number:
        statement = statement.where(Case.case_number.startswith(where.number, autoescape=True))
    async with db.read() as session:
        total = (await session.execute(select(func.count()).select_from(statement.subquery()))).scalar_one()
        page = statement.order_by(Case.created_at.desc(), Case.id.desc())
        page = page.limit(page_size).offset((where.page - 1) * page_size)
        found = list((await session.execute(page)).unique().scalars())
    return int(total), found


@dataclass(frozen=True)
class CaseRecord:
    """What happened to a case: its audit entries, its WeChat notices and its printed documents."""

    history: list[AuditEntry]
    notices: list[Notification]
    prints: list[PrintJob]


async def case_record(db: Database, case: Case) -> CaseRecord:
    """The case's history (oldest first), notices and print jobs."""
    async with db.read() as session:
        history = select(AuditEntry).where(AuditEntry.entity == "case", AuditEntry.entity_id == case.case_number)
        return CaseRecord(
            history=list((await session.execute(history.order_by(AuditEntry.at, AuditEntry.id))).scalars()),
            notices=list(
                (await session.execute(select(Notification).where(Notification.subject == case.case_number))).scalars()
            ),
            prints=list(
                (await session.execute(select(PrintJob).where(PrintJob.case_number == case.case_number))).scalars()
            ),
        )
