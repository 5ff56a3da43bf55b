"""Photos of a case's materials (and of the resident's signature), taken by social workers: stored in the case's
folder (`backend.uploads.PhotoStore`) and recorded as `CaseAttachment` rows, each addition in the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from backend.db import Database
from backend.models import Case, CaseAttachment, StaffUser
from backend.services import audit
from backend.services.staff_cases import visible
from backend.uploads import StoredPhoto


async def photos_of(db: Database, case: Case) -> list[CaseAttachment]:
    """The case's photos, oldest first."""
    async with db.read() as session:
        statement = select(CaseAttachment).where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.id)
        return list((await session.execute(statement)).scalars())


async def visible_photo(db: Database, user: StaffUser, attachment_id: int) -> tuple[CaseAttachment, str] | None:
    """A photo and its case's number, when ``user`` may see the case."""
    statement = visible(
        select(CaseAttachment, Case.case_number)
        .join(Case, Case.id == CaseAttachment.case_id)
        .where(CaseAttachment.id == attachment_id),
        user,
    )
    async with db.read() as session:
        found = (await session.execute(statement)).one_or_none()
    return (found[0], found[1]) if found else None


async def record(db: Database, case: Case, photos: Sequence[StoredPhoto], *, actor: str) -> None:
    """Record photos stored in the case's folder, uploaded by ``actor``."""
    async with db.write() as session:
        for photo in photos:
            session.add(CaseAttachment(case_id=case.id, uploaded_by=actor, **vars(photo)))
        audit.record(session, actor, "case.photos", "case", case.case_number, count=len(photos))
