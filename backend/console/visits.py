"""Social workers' home visits in the console (代办, 零次跑), made for a phone; no script needed.

- ``/console/visits``: the worker's visits (an admin sees everyone's): today's first, then the coming days, then
  visits past their day and not made, then the ones done or cancelled; each with the cases filed on it.
- ``/console/visits/new``: add a visit (an admin picks the social worker); ``/console/visits/<id>``: one visit, where
  filing for the resident starts (`backend.console.visit_filing`) and the visit is marked made or cancelled.

Another social worker's visit answers 404 like a missing one. The SMS sender and the photo folder are made here,
once per worker at start-up.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sanic import Blueprint, Request, Sanic, redirect
from sanic.response import HTTPResponse

from backend import sms
from backend.console.guard import staff_page
from backend.console.render import not_visible, render
from backend.id_checks import validate_phone
from backend.models import StaffRole, Visit, VisitStatus
from backend.services import cases as case_service
from backend.services import staff_accounts
from backend.services import visits as visit_service
from backend.services.visits import NewVisit
from backend.uploads import PhotoStore

logger = logging.getLogger(__name__)

visit_pages = Blueprint("console_visits", url_prefix="/console")
WORKERS = (StaffRole.SOCIAL_WORKER, StaffRole.ADMIN)
VISIT_LABELS = {VisitStatus.PLANNED: "待走访", VisitStatus.DONE: "已走访", VisitStatus.CANCELLED: "已取消"}


@visit_pages.before_server_start
async def open_outlets(app: Sanic) -> None:
    """The SMS sender and the photo folder of this worker (a wrong SMS_SENDER stops start-up, naming it)."""
    app.ctx.sms = sms.create_sender(app.ctx.settings)
    app.ctx.photos = PhotoStore(app.ctx.settings.uploads_dir)


async def visible_visit(request: Request, visit_id: int) -> Visit | None:
    """The visit, when the signed-in user may see it."""
    return await visit_service.visible_visit(request.app.ctx.db, request.ctx.staff.user, visit_id)


@visit_pages.get("/visits")
@staff_page(*WORKERS)
async def visit_list(request: Request) -> HTTPResponse:
    today = request.app.ctx.clock().date()
    db, since = request.app.ctx.db, today - dt.timedelta(days=90)
    visits = await visit_service.visits_since(db, request.ctx.staff.user, since)
    live = [v for v in visits if v.status is not VisitStatus.CANCELLED]
    ended = [v for v in visits if v.status is VisitStatus.CANCELLED or (v.day < today and v.status is VisitStatus.DONE)]
    sections = [
        ("今天", [v for v in live if v.day == today]),
        ("接下来", [v for v in live if v.day > today]),
        ("逾期未走访", [v for v in live if v.day < today and v.status is VisitStatus.PLANNED]),
        ("已走访、已取消", sorted(ended, key=lambda v: (v.day, v.id), reverse=True)[:30]),
    ]
    filed = await visit_service.filed_on(db, [v.id for v in visits])
    return render(
        request, "visits.html", sections=sections, filed=filed, labels=VISIT_LABELS, done=done_message(request)
    )


def done_message(request: Request) -> str:
    """The confirmation a redirect carries (``?done=``)."""
    return (request.args.get("done") or "")[:60]


@visit_pages.get("/visits/new")
@staff_page(*WORKERS)
async def visit_form(request: Request) -> HTTPResponse:
    values = {"day": request.app.ctx.clock().date().isoformat(), "staff": request.ctx.staff.user.username}
    return render(
        request,
        "visit_form.html",
        values=values,
        errors={},
        workers=await staff_accounts.social_workers(request.app.ctx.db),
    )


def _read_visit(form: Any, *, admin: bool, workers: list[str], me: str) -> tuple[dict[str, str], dict[str, str]]:
    fields = ("resident_name", "phone", "community", "address", "day", "note", "staff")
    values = {name: (form.get(name) or "").strip() for name in fields}
    values["staff"] = values["staff"] if admin and values["staff"] in [*workers, me] else me
    errors: dict[str, str] = {}
    limits = {"resident_name": 50, "community": 100, "address": 200, "note": 500}
    for name, label in (("resident_name", "居民姓名"), ("address", "地址")):
        if not values[name]:
            errors[name] = f"请填写{label}。"
    for name, most in limits.items():
        if len(values[name]) > most:
            errors[name] = f"最多 {most} 个字。"
    if values["phone"]:
        try:
            values["phone"] = validate_phone(values["phone"])
        except ValueError as exc:
            errors["phone"] = str(exc)
    try:
        dt.date.fromisoformat(values["day"])
    except ValueError:
        errors["day"] = "请选择走访日期。"
    return values, errors


@visit_pages.post("/visits")
@staff_page(*WORKERS)
async def add_visit(request: Request) -> HTTPResponse:
    user, workers = request.ctx.staff.user, await staff_accounts.social_workers(request.app.ctx.db)
    values, errors = _read_visit(request.form, admin=user.role is StaffRole.ADMIN, workers=workers, me=user.username)
    if errors:
        return render(request, "visit_form.html", status=422, values=values, errors=errors, workers=workers)
    visit = NewVisit(
        staff_username=values["staff"],
        resident_name=values["resident_name"],
        address=values["address"],
        day=dt.date.fromisoformat(values["day"]),
        phone=values["phone"] or None,
        community=values["community"] or None,
        note=values["note"] or None,
    )
    visit_id = await visit_service.plan(request.app.ctx.db, visit, actor=user.username)
    return redirect(f"/console/visits/{visit_id}?done=已添加走访。", status=303)


@visit_pages.get("/visits/<visit_id:int>")
@staff_page(*WORKERS)
async def visit_page(request: Request, visit_id: int) -> HTTPResponse:
    visit = await visible_visit(request, visit_id)
    if visit is None:
        return not_visible(request, "走访")
    filed = (await visit_service.filed_on(request.app.ctx.db, [visit.id])).get(visit.id, [])
    catalog = request.app.ctx.catalog
    names = {case.case_number: case_service.item_name(catalog, case.item_id) for case in filed}
    return render(
        request, "visit.html", visit=visit, filed=filed, names=names, labels=VISIT_LABELS, done=done_message(request)
    )


@visit_pages.post("/visits/<visit_id:int>/status")
@staff_page(*WORKERS)
async def visit_status(request: Request, visit_id: int) -> HTTPResponse:
    target = request.form.get("to", "")
    if target not in VisitStatus.__members__.values() or await visible_visit(request, visit_id) is None:
        return not_visible(request, "走访")
    actor = request.ctx.staff.user.username
    await visit_service.set_status(request.app.ctx.db, visit_id, VisitStatus(target), actor=actor)
    return redirect(f"/console/visits/{visit_id}?done=已改为“{VISIT_LABELS[VisitStatus(target)]}”。", status=303)
