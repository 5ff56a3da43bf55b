"""The print spool over HTTP: staff and services add jobs, printer workers claim and confirm them."""

from __future__ import annotations

from sanic import Blueprint, Request, empty, json

from backend.api.common import actor, parse_body, parse_query
from backend.api.openapi import operation
from backend.api.responses import job_out
from backend.api.schemas import PrintClaimIn, PrintJobCreate, PrintJobList, PrintJobOut, PrintJobQuery, PrintJobUpdate
from backend.models import PrintJob
from backend.services import print_jobs as service

print_jobs = Blueprint("print_jobs", url_prefix="/api/v1/print-jobs")


@print_jobs.post("/", strict_slashes=False)
@operation(
    "新建打印任务",
    tag="print",
    body=PrintJobCreate,
    responses={201: PrintJobOut, 404: None, 422: None},
    headers=("X-Actor",),
)
async def create(request: Request):
    """Spool a document: a case's as the case is now (staff asking for a copy), or one given whole."""
    ctx = request.app.ctx
    body = parse_body(request, PrintJobCreate)
    job = await service.create_job(
        ctx.db, body.command(), actor=actor(request), catalog=ctx.catalog, links=ctx.follow_links, now=ctx.clock()
    )
    return json(_out(request, job).model_dump(mode="json"), status=201)


@print_jobs.get("/", strict_slashes=False)
@operation("查看打印队列", tag="print", query=PrintJobQuery, responses={200: PrintJobList})
async def list_jobs(request: Request):
    """Jobs, oldest first."""
    query = parse_query(request, PrintJobQuery)
    jobs = await service.list_jobs(request.app.ctx.db, status=query.status, printer=query.printer, limit=query.limit)
    return json([_out(request, j).model_dump(mode="json") for j in jobs])


@print_jobs.get("/<job_id:int>")
@operation("查看打印任务", tag="print", responses={200: PrintJobOut, 404: None})
async def get(request: Request, job_id: int):
    """One job."""
    return json(_out(request, await service.get_job(request.app.ctx.db, job_id)).model_dump(mode="json"))


@print_jobs.post("/claim")
@operation("打印机领取下一个任务", tag="print", body=PrintClaimIn, responses={200: PrintJobOut, 204: None})
async def claim(request: Request):
    """Lease the next job for a printer, its document complete; 204 when there is none. A queue ticket's QR code
    is WeChat's code to follow it (made at its first claim), or its page where WeChat made none (``qr_kind``)."""
    body = parse_body(request, PrintClaimIn)
    ctx = request.app.ctx
    job = await service.claim_next(ctx.db, body.printer, lease_seconds=ctx.settings.print_lease_seconds)
    if job is None:
        return empty()
    job = await service.attach_wechat_code(ctx.db, job, ctx.follow_codes, now=ctx.clock())
    return json(_out(request, job).model_dump(mode="json"))


@print_jobs.post("/<job_id:int>/sent")
@operation("打印机开始发送任务", tag="print", responses={200: PrintJobOut, 404: None, 409: None}, headers=("X-Actor",))
async def sent(request: Request, job_id: int):
    """The worker is about to send the bytes: from now on the job is never re-leased on its own (no double print)."""
    job = await service.mark_sent(request.app.ctx.db, job_id, actor=actor(request))
    return json(_out(request, job).model_dump(mode="json"))


@print_jobs.post("/<job_id:int>/status")
@operation(
    "报告打印结果或取消",
    tag="print",
    body=PrintJobUpdate,
    responses={200: PrintJobOut, 404: None, 409: None},
    headers=("X-Actor",),
)
async def update(request: Request, job_id: int):
    """Printed, back to the queue after a fault, or cancelled by staff."""
    body = parse_body(request, PrintJobUpdate)
    job = await service.update_job(request.app.ctx.db, job_id, body.command(), actor=actor(request))
    return json(_out(request, job).model_dump(mode="json"))


def _out(request: Request, job: PrintJob) -> PrintJobOut:
    return job_out(job, lease_seconds=request.app.ctx.settings.print_lease_seconds)
