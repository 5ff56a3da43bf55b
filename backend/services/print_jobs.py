"""The print spool: complete documents wait here until a printer worker claims, prints and confirms them.

`spool` adds a job in the caller's transaction (a counter ticket taken, a case's status changed): the job holds its
whole document (`printing.documents`), so the worker renders and prints it without asking anything else.
`create_job` is the same for staff asking for a copy through the API.

A claim is a lease: a job claimed by a worker that then died before sending anything to the printer is
claimable again after ``print_lease_seconds``, so nothing is lost. Once the worker marks a job sent, the printer
may have printed it: if the worker then dies unconfirmed, the job is not printed again on its own but waits for
staff to check the printer (``needs_check``), and is reprinted (back to the queue) or confirmed by them. So a
job is never lost and never printed twice; a confirmation that arrives twice changes nothing.

A counter ticket is spooled with its page as its QR code. Its first claim asks WeChat for the code that follows it
there (`attach_wechat_code`, outside any transaction and within a bounded time, so neither taking a number nor the
queue's lock waits for WeChat) and keeps it in the document, so every reprint prints the same code.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.schema import Catalog
from backend.db import Database
from backend.errors import conflict, invalid, not_found
from backend.models import Case, PrintJob, PrintJobStatus, as_utc, utcnow
from backend.services import audit, documents
from backend.services.documents import FollowLinks
from printing.documents import CASE_KINDS, PAGE_QR, WECHAT_QR, Document, QueueTicket, document_json, parse_document

if TYPE_CHECKING:
    from backend.follow_codes import FollowCodes

logger = logging.getLogger(__name__)

FINAL = frozenset({PrintJobStatus.PRINTED, PrintJobStatus.CANCELLED})
MAX_JOB_ID = 2**31 - 1
"""Largest id the INTEGER column holds; a larger one in a URL names no job (and would overflow SQLite's driver)."""


@dataclass(frozen=True)
class PrintRequest:
    """Staff ask for a ``kind`` document on ``printer``: about ``case_number`` as the case is now, or exactly
    ``document`` (complete, of the same kind)."""

    kind: str
    printer: str
    case_number: str | None = None
    document: Document | None = None


@dataclass(frozen=True)
class Outcome:
    """What a worker or staff report: printed, back to the queue (with the error), or cancelled."""

    status: PrintJobStatus
    error: str | None = None


async def spool(
    session: AsyncSession,
    document: Document,
    *,
    printer: str,
    case_number: str | None = None,
    ticket_id: int | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Queue ``document`` on ``printer`` in the caller's transaction; its job's id, or None when a job with
    ``dedupe_key`` (naming the event the document reports) exists already. One ``INSERT … ON CONFLICT DO NOTHING``,
    so two racing transactions write one."""
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = insert(PrintJob).values(
        kind=document.kind,
        printer=printer,
        status=PrintJobStatus.QUEUED,
        document=document_json(document),
        case_number=case_number,
        ticket_id=ticket_id,
        dedupe_key=dedupe_key,
        attempts=0,
        created_at=utcnow(),
    )
    statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(PrintJob.id)
    job_id = (await session.execute(statement)).scalar_one_or_none()
    if job_id is not None:
        logger.info("spooled job %d, a %s on the %s printer", job_id, document.kind, printer)
    return job_id


async def create_job(
    db: Database, request: PrintRequest, *, actor: str, catalog: Catalog, links: FollowLinks, now: dt.datetime
) -> PrintJob:
    """Spool what staff asked for: a case's document made from the case as it is now, or the given document."""
    async with db.write() as session:
        document = request.document
        if request.case_number is not None:  # "" too: it names no case (and would break the foreign key)
            found = await session.execute(select(Case).where(Case.case_number == request.case_number))
            case = found.unique().scalar_one_or_none()
            if case is None:
                raise not_found("unknown_case", f"没有找到办件编号为 {request.case_number} 的办件。")
            if document is None and request.kind in CASE_KINDS:
                names = {item.id: item.name for item in catalog.items}
                item_name = names.get(case.item_id, case.item_id)
                document = documents.for_case(request.kind, case, item_name=item_name, links=links, now=now)
        if document is None:
            raise invalid("document_required", "请提供要打印的内容（document），或办件编号。", field="document")
        if document.kind != request.kind:
            raise invalid("document_kind", f"打印内容的种类是 {document.kind}，不是 {request.kind}。", field="document")
        job_id = await spool(session, document, printer=request.printer, case_number=request.case_number)
        job = await session.get(PrintJob, job_id)
        assert job is not None  # without a dedupe key the insert always adds
        audit.record(session, actor, "print.create", "print_job", job.id, kind=job.kind, printer=job.printer)
    return job


async def get_job(db: Database, job_id: int) -> PrintJob:
    """One job or 404."""
    async with db.read() as session:
        job = await session.get(PrintJob, job_id) if 0 < job_id <= MAX_JOB_ID else None
    if job is None:
        raise not_found("unknown_print_job", f"没有找到打印任务 {job_id}。")
    return job


async def list_jobs(db: Database, *, status: PrintJobStatus | None, printer: str | None, limit: int) -> list[PrintJob]:
    """Jobs, oldest first, filtered by status and printer."""
    statement = select(PrintJob).order_by(PrintJob.id).limit(limit)
    if status is not None:
        statement = statement.where(PrintJob.status == status)
    if printer:
        statement = statement.where(PrintJob.printer == printer)
    async with db.read() as session:
        return list((await session.execute(statement)).scalars())


async def claim_next(db: Database, printer: str, *, lease_seconds: int) -> PrintJob | None:
    """Lease the oldest job for ``printer``: a queued one, or one whose previous lease ran out."""
    expired = utcnow() - dt.timedelta(seconds=lease_seconds)
    async with db.write() as session:
        statement = (
            select(PrintJob)
            .where(
                PrintJob.printer == printer,
                or_(
                    PrintJob.status == PrintJobStatus.QUEUED,
                    (PrintJob.status == PrintJobStatus.PRINTING)
                    & (PrintJob.claimed_at < expired)
                    & PrintJob.sent_at.is_(None),
                ),
            )
            .order_by(PrintJob.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        job = (await session.execute(statement)).scalar_one_or_none()
        if job is None:
            return None
        job.status, job.claimed_at, job.attempts = PrintJobStatus.PRINTING, utcnow(), job.attempts + 1
    return job


def _awaiting_wechat(job: PrintJob) -> QueueTicket | None:
    """The ticket of a job at its first claim, still showing its page; None for any other job."""
    if job.kind != "ticket" or job.attempts != 1 or (job.document or {}).get("qr_kind") != PAGE_QR:
        return None
    try:
        document = parse_document(job.document)
    except ValueError:  # pydantic's ValidationError: the worker cancels it with the reason
        return None
    return document if isinstance(document, QueueTicket) else None


async def attach_wechat_code(db: Database, job: PrintJob, codes: FollowCodes, *, now: dt.datetime) -> PrintJob:
    """A ticket's job at its first claim with WeChat's code in place of its page, when WeChat makes one (asked
    outside any transaction); kept, so reprints print the same code. Other jobs come back as they are."""
    ticket = _awaiting_wechat(job)
    if ticket is None:
        return job
    code = await codes.for_ticket(ticket.service_day, ticket.number, now=now, job_id=job.id)
    if code.kind != WECHAT_QR:
        return job
    async with db.write() as session:
        stored = await session.get(PrintJob, job.id, with_for_update=True)
        if stored is None or stored.document.get("qr_kind") != PAGE_QR:
            return stored or job
        # A new dict: the JSON column does not track changes inside it.
        stored.document = document_json(ticket.model_copy(update={"qr": code.url, "qr_kind": WECHAT_QR}))
    return stored


async def mark_sent(db: Database, job_id: int, *, actor: str) -> PrintJob:
    """The worker is about to send the job's bytes: from now on it is never re-leased on its own."""
    async with db.write() as session:
        job = await session.get(PrintJob, job_id, with_for_update=True) if 0 < job_id <= MAX_JOB_ID else None
        if job is None:
            raise not_found("unknown_print_job", f"没有找到打印任务 {job_id}。")
        if job.status is not PrintJobStatus.PRINTING:
            raise conflict("print_job_not_claimed", f"打印任务 {job_id} 还没有被打印机领取。")
        if job.sent_at is None:
            job.sent_at = utcnow()
            audit.record(session, actor, "print.sent", "print_job", job.id)
    return job


def needs_check(job: PrintJob, *, lease_seconds: int) -> bool:
    """Sent to the printer, never confirmed, and its worker gone: staff should look whether it came out."""
    if job.status is not PrintJobStatus.PRINTING or job.sent_at is None or job.claimed_at is None:
        return False
    return as_utc(job.claimed_at) < utcnow() - dt.timedelta(seconds=lease_seconds)


async def update_job(db: Database, job_id: int, update: Outcome, *, actor: str) -> PrintJob:
    """Record an outcome: printed, back to the queue after a failure (with the error), or cancelled."""
    async with db.write() as session:
        job = await session.get(PrintJob, job_id, with_for_update=True) if 0 < job_id <= MAX_JOB_ID else None
        if job is None:
            raise not_found("unknown_print_job", f"没有找到打印任务 {job_id}。")
        if job.status is update.status and update.status in FINAL:
            return job  # a repeated confirmation
        if job.status in FINAL:
            raise conflict("print_job_closed", f"打印任务 {job_id} 已结束，不能再更改。")
        if update.status is PrintJobStatus.PRINTED and job.status is not PrintJobStatus.PRINTING:
            raise conflict("print_job_not_claimed", f"打印任务 {job_id} 还没有被打印机领取。")
        job.status = update.status
        job.last_error = update.error if update.error else job.last_error
        if update.status is PrintJobStatus.PRINTED:
            job.printed_at = utcnow()
        if update.status is PrintJobStatus.QUEUED:
            job.claimed_at = job.sent_at = None
        audit.record(session, actor, f"print.{update.status.value}", "print_job", job.id, error=update.error)
    return job
