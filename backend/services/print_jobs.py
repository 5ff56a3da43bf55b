"""The print spool: jobs wait here until a printer worker claims, prints and confirms them.

A claim is a lease: a job claimed by a worker that then died before sending anything to the printer is
claimable again after ``print_lease_seconds``, so nothing is lost. Once the worker marks a job sent, the printer
may have printed it: if the worker then dies unconfirmed, the job is not printed again on its own but waits for
staff to check the printer (``needs_check``), and is reprinted (back to the queue) or confirmed by them. So a
job is never lost and never printed twice; a confirmation that arrives twice changes nothing.

A queue ticket's QR code is made when its job is first claimed (`attach_follow_code`) and kept in the payload
(``follow_qr``, ``follow_qr_kind``), so every reprint prints the same code.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from backend.api.schemas import PrintJobCreate, PrintJobUpdate
from backend.db import Database
from backend.errors import conflict, not_found
from backend.models import Case, PrintJob, PrintJobStatus, as_utc, utcnow
from backend.services import audit
from wechat.scenes import TICKET_NUMBER

if TYPE_CHECKING:
    from backend.follow_codes import FollowCodes

FINAL = frozenset({PrintJobStatus.PRINTED, PrintJobStatus.CANCELLED})
MAX_JOB_ID = 2**31 - 1
"""Largest id the INTEGER column holds; a larger one in a URL names no job (and would overflow SQLite's driver)."""


async def create_job(db: Database, request: PrintJobCreate, *, actor: str) -> PrintJob:
    """Spool a job."""
    async with db.write() as session:
        if request.case_number is not None:  # "" too: it names no case (and would break the foreign key)
            found = await session.execute(select(Case.id).where(Case.case_number == request.case_number))
            if found.scalar_one_or_none() is None:
                raise not_found("unknown_case", f"没有找到办件编号为 {request.case_number} 的办件。")
        job = PrintJob(
            kind=request.kind,
            printer=request.printer,
            status=PrintJobStatus.QUEUED,
            payload=request.payload,
            case_number=request.case_number,
        )
        session.add(job)
        await session.flush()
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


def _ticket_of(job: PrintJob) -> tuple[dt.date, str] | None:
    """(service day, number) of a ticket job still without a QR code; None for other jobs, and for a ticket job
    staff spooled with a payload that names no ticket (it prints without a code of ours)."""
    payload = job.payload or {}
    if job.kind != "ticket" or payload.get("follow_qr"):
        return None
    number, day = payload.get("number"), payload.get("service_day")
    if not isinstance(number, str) or not TICKET_NUMBER.fullmatch(number) or not isinstance(day, str):
        return None
    try:
        return dt.date.fromisoformat(day), number
    except ValueError:
        return None


async def attach_follow_code(db: Database, job: PrintJob, codes: FollowCodes, *, now: dt.datetime) -> PrintJob:
    """A claimed ticket job with its QR code: made the first time (WeChat is asked outside any transaction), then
    kept in the payload. Other jobs, and tickets that have their code, come back as they are."""
    ticket = _ticket_of(job)
    if ticket is None:
        return job
    code = await codes.for_ticket(*ticket, now=now, job_id=job.id)
    async with db.write() as session:
        stored = await session.get(PrintJob, job.id, with_for_update=True)
        if stored is None:
            return job
        if not (stored.payload or {}).get("follow_qr"):  # a new dict: the JSON column does not track changes inside
            stored.payload = {**(stored.payload or {}), "follow_qr": code.url, "follow_qr_kind": code.kind}
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


async def update_job(db: Database, job_id: int, update: PrintJobUpdate, *, actor: str) -> PrintJob:
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
