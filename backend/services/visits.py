"""Social workers' home visits (代办, 零次跑): planned, made or cancelled, and the cases filed on them.

A social worker sees their own visits; an admin sees everyone's (`visits_of`). Every change is in the audit log.
Filing for the resident on a visit is `backend.services.visit_filings`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select

from backend.db import Database
from backend.models import Case, StaffRole, StaffUser, Visit, VisitFiling, VisitStatus
from backend.services import audit


@dataclass(frozen=True)
class NewVisit:
    """A visit to plan: whose, to whom, where and when (phone already checked, `backend.id_checks.validate_phone`)."""

    staff_username: str
    resident_name: str
    address: str
    day: dt.date
    phone: str | None = None
    community: str | None = None
    note: str | None = None


def visits_of(user: StaffUser) -> Select:
    """Visits ``user`` may see: their own; an admin's, all."""
    statement = select(Visit)
    return statement if user.role is StaffRole.ADMIN else statement.where(Visit.staff_username == user.username)


async def visible_visit(db: Database, user: StaffUser, visit_id: int) -> Visit | None:
    """The visit, when ``user`` may see it."""
    async with db.read() as session:
        return (await session.execute(visits_of(user).where(Visit.id == visit_id))).scalar_one_or_none()


async def visits_since(db: Database, user: StaffUser, since: dt.date) -> list[Visit]:
    """The visits ``user`` may see from ``since`` on, by day."""
    async with db.read() as session:
        statement = visits_of(user).where(Visit.day >= since).order_by(Visit.day, Visit.id)
        return list((await session.execute(statement)).scalars())


async def filed_on(db: Database, visit_ids: list[int]) -> dict[int, list[Case]]:
    """The cases filed on each visit."""
    if not visit_ids:
        return {}
    statement = (
        select(VisitFiling.visit_id, Case)
        .join(Case, Case.case_number == VisitFiling.case_number)
        .where(VisitFiling.visit_id.in_(visit_ids))
        .order_by(Case.id)
    )
    found: dict[int, list[Case]] = {}
    async with db.read() as session:
        for visit_id, case in (await session.execute(statement)).unique():
            found.setdefault(visit_id, []).append(case)
    return found


async def plan(db: Database, visit: NewVisit, *, actor: str) -> int:
    """Plan a visit; its id."""
    async with db.write() as session:
        row = Visit(**vars(visit), status=VisitStatus.PLANNED, created_by=actor)
        session.add(row)
        await session.flush()
        audit.record(session, actor, "visit.create", "visit", row.id, staff=row.staff_username)
        return row.id


async def set_status(db: Database, visit_id: int, status: VisitStatus, *, actor: str) -> None:
    """Mark a visit planned, made or cancelled."""
    async with db.write() as session:
        visit = await session.get(Visit, visit_id)
        previous, visit.status = visit.status, status
        audit.record(session, actor, "visit.status", "visit", visit_id, **{"from": previous.value, "to": status.value})
