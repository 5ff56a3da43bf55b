"""Filing for a resident on a home visit (代办): waiting for the resident's consent, then the case and its photos.

- ``sms_code``: the request waits as a `VisitFiling` (`wait_for_code`) while a 6-digit code goes to the resident's
  phone (`send_code`, `backend.consent`: 10 minutes, 5 tries, single use; resent at most every minute); the case is
  filed once the code the resident reads out matches (`confirm_code`, then `file_confirmed`).
- ``signature``: a photo of the resident's signature is the consent; the case is filed at once (`file_signed`).

Either way the case is filed by `backend.services.cases.create_case`, the API's own path, under an idempotency key
(a form sent twice files one case); then, in one transaction, the photos move from staging into the case's folder as
`CaseAttachment` rows, the filing is linked to the case (its copy of the resident's data dropped) and a planned visit
becomes made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select

from backend import consent, sms
from backend.catalog.schema import Catalog
from backend.db import Database
from backend.models import Case, CaseAttachment, StaffUser, Visit, VisitFiling, VisitStatus, utcnow
from backend.services import audit
from backend.services import cases as case_service
from backend.services.cases import NewCase
from backend.services.visits import visits_of
from backend.uploads import PhotoStore
from vocabulary.masking import mask_phone

logger = logging.getLogger(__name__)

STALE_FILINGS = dt.timedelta(days=1)
"""Filings still waiting for a code after this long are removed."""
NOT_SENT = "短信没有发出去，请稍后点“重新发送验证码”，或改用签名照片。"


@dataclass(frozen=True)
class FilingRequest:
    """A case to file for a resident on a visit, with the photos staged for it under ``staging_key``."""

    visit_id: int
    staff_username: str
    """Who fills in the form (its photos are staged under their name)."""
    item_id: str
    case: NewCase
    staging_key: str


async def visible_filing(db: Database, user: StaffUser, filing_id: int) -> tuple[VisitFiling, Visit] | None:
    """The filing and its visit, when ``user`` may see the visit."""
    async with db.read() as session:
        statement = (
            visits_of(user)
            .add_columns(VisitFiling)
            .join(VisitFiling, VisitFiling.visit_id == Visit.id)
            .where(VisitFiling.id == filing_id)
        )
        found = (await session.execute(statement)).one_or_none()
    return (found[1], found[0]) if found else None


def _filing(request: FilingRequest, filing: VisitFiling) -> VisitFiling:
    filing.visit_id, filing.staff_username, filing.item_id = request.visit_id, request.staff_username, request.item_id
    filing.request, filing.staging_key = request.case.model_dump(mode="json"), request.staging_key
    return filing


async def wait_for_code(db: Database, request: FilingRequest) -> int:
    """Keep the request until the resident's code confirms it (filings left waiting too long go); its id."""
    async with db.write() as session:
        await session.execute(
            delete(VisitFiling).where(
                VisitFiling.case_number.is_(None), VisitFiling.created_at < utcnow() - STALE_FILINGS
            )
        )
        filing = _filing(request, VisitFiling(consent="sms_code", phone=request.case.resident.phone))
        session.add(filing)
        await session.flush()
        return filing.id


def _sms_text(code: str, filing: VisitFiling, item_name: str, ttl_s: int) -> str:
    proxy = filing.request["proxy"]["staff_username"]
    return (
        f"【就近办】验证码 {code}：社工 {proxy} 正在为您代办“{item_name}”，您同意请把验证码告诉社工，"
        f"{ttl_s // 60} 分钟内有效。没有委托代办请勿告诉任何人。"
    )


async def send_code(
    db: Database, sender: sms.SmsSender, catalog: Catalog, filing_id: int, *, ttl_s: int, actor: str
) -> consent.CodeRefused | None:
    """A new code for the filing, sent to the resident's phone; the refusal when none may go out now."""
    async with db.write() as session:
        filing = (
            await session.execute(select(VisitFiling).where(VisitFiling.id == filing_id).with_for_update())
        ).scalar_one()
        try:
            code = consent.issue(filing, now=utcnow(), ttl=dt.timedelta(seconds=ttl_s))
        except consent.CodeRefused as refused:
            return refused
        audit.record(session, actor, "consent.code_sent", "visit_filing", filing.id, phone=mask_phone(filing.phone))
    text = _sms_text(code, filing, case_service.item_name(catalog, filing.item_id), ttl_s)
    try:
        await sender.send(filing.phone, text, purpose="proxy_consent")
    except sms.SmsError as exc:
        logger.error("consent code for filing %s not sent: %s", filing_id, exc)
        async with db.write() as session:
            consent.sending_failed(await session.get(VisitFiling, filing_id))
        return consent.CodeRefused("not_sent", NOT_SENT)
    return None


async def confirm_code(db: Database, filing_id: int, code: str, *, actor: str) -> VisitFiling:
    """The filing, its consent confirmed by ``code``; `consent.CodeRefused` (the wrong try counted and committed).
    A filing whose code matched but whose case was not filed is filed without a new code."""
    refusal = None
    async with db.write() as session:
        filing = (
            await session.execute(select(VisitFiling).where(VisitFiling.id == filing_id).with_for_update())
        ).scalar_one()
        if filing.verified_at is None or filing.case_number is not None:
            try:
                consent.verify(filing, code, now=utcnow())
                audit.record(session, actor, "consent.confirmed", "visit_filing", filing.id, by="sms_code")
            except consent.CodeRefused as exc:
                refusal = exc
                audit.record(session, actor, "consent.code_refused", "visit_filing", filing.id, reason=exc.code)
    if refusal is not None:  # raised after the block, so the wrong try is counted
        raise refusal
    return filing


async def cancel(db: Database, photos: PhotoStore, filing: VisitFiling, *, actor: str) -> None:
    """Give up a filing not yet filed, and the photos staged for it."""
    if filing.case_number is not None:
        return
    async with db.write() as session:
        await session.execute(delete(VisitFiling).where(VisitFiling.id == filing.id, VisitFiling.case_number.is_(None)))
        audit.record(session, actor, "consent.cancelled", "visit_filing", filing.id)
    if filing.staging_key:
        await asyncio.to_thread(photos.discard, filing.staging_key, filing.staff_username)


async def file_signed(
    db: Database, catalog: Catalog, photos: PhotoStore, request: FilingRequest, *, actor: str, today: dt.date
) -> Case:
    """File the case at once, the resident's signature photo being the consent."""
    filing = _filing(request, VisitFiling(consent="signature", verified_at=utcnow()))
    return await _file(db, catalog, photos, filing, actor=actor, today=today)


async def file_confirmed(
    db: Database, catalog: Catalog, photos: PhotoStore, filing: VisitFiling, *, actor: str, today: dt.date
) -> Case:
    """File the case of a filing whose code matched (`confirm_code`)."""
    return await _file(db, catalog, photos, filing, actor=actor, today=today)


async def _file(
    db: Database, catalog: Catalog, photos: PhotoStore, filing: VisitFiling, *, actor: str, today: dt.date
) -> Case:
    """File the case of ``filing`` (consent given), move its photos to the case and link it to the visit.
    `backend.errors.ApiError` when the case service refuses the case (nothing else is changed then)."""
    key = f"visit-filing:{filing.id}" if filing.id else f"visit-signature:{filing.staging_key}"
    body = NewCase.model_validate(filing.request)
    case = (await case_service.create_case(db, catalog, body, actor=actor, today=today, idempotency_key=key)).case
    stored = await asyncio.to_thread(photos.commit, filing.staging_key, filing.staff_username, case.case_number)
    async with db.write() as session:
        for photo in stored:
            session.add(CaseAttachment(case_id=case.id, uploaded_by=filing.staff_username, **vars(photo)))
        if filing.id is not None:
            filing = await session.get(VisitFiling, filing.id)
        else:  # filed at once (signature); a replay of the same form finds the filing of the first
            statement = select(VisitFiling).where(VisitFiling.case_number == case.case_number)
            filing = (await session.execute(statement)).scalar_one_or_none() or filing
            session.add(filing)
        filing.case_number = case.case_number
        filing.request = {}  # the case holds the resident's data now; no second copy is kept
        visit = await session.get(Visit, filing.visit_id)
        if visit.status is VisitStatus.PLANNED:
            visit.status = VisitStatus.DONE
        audit.record(session, actor, "case.photos", "case", case.case_number, count=len(stored))
    logger.info(
        "proxy filing %s on visit %s, consent %s, %d photos",
        case.case_number,
        filing.visit_id,
        filing.consent,
        len(stored),
    )
    return case
