"""Admin page for the centre's opening hours, for admins only: ``/console/admin/hours`` (the weekly sessions per
weekday, and closure days with a note). ``GET /api/v1/opening-hours`` and `opening_hours.is_open` read what is saved
here; until an admin saves the week, the defaults of `backend.services.opening_hours` apply. Every change is in the
audit log with the admin as actor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse

from backend.console.guard import staff_page
from backend.console.render import render
from backend.models import StaffRole
from backend.services import opening_hours as hours_service
from backend.services.opening_hours import WEEKDAY_NAMES, DayHours, HoursRefused, parse_clock

hours_pages = Blueprint("console_admin_hours", url_prefix="/console/admin/hours")
ADMIN = StaffRole.ADMIN
TIMES = ("morning_start", "morning_end", "afternoon_start", "afternoon_end")

DONE = {
    "week": "每周办公时间已保存。",
    "unchanged": "办公时间没有变化。",
    "closure": "休息日已保存。",
    "reopened": "已取消这个休息日。",
}


@dataclass
class DayDraft:
    """One weekday's row of the form, as saved or as typed."""

    weekday: int
    name: str
    is_open: bool
    times: dict[str, str]

    @classmethod
    def of(cls, day: DayHours) -> DayDraft:
        times = {key: "" for key in TIMES}
        for prefix, period in (("morning", day.morning), ("afternoon", day.afternoon)):
            if period is not None and day.is_open:
                times[f"{prefix}_start"], times[f"{prefix}_end"] = f"{period.start:%H:%M}", f"{period.end:%H:%M}"
        return cls(day.weekday, day.name, day.is_open, times)


def _today(request: Request) -> dt.date:
    return request.app.ctx.clock().date()


@hours_pages.get("/")
@staff_page(ADMIN)
async def hours_page(request: Request) -> HTTPResponse:
    return await _view(request, done=DONE.get(request.args.get("done", ""), ""))


@hours_pages.post("/")
@staff_page(ADMIN)
async def save_week(request: Request) -> HTTPResponse:
    form, drafts, week = request.form, [], []
    try:
        for weekday, name in enumerate(WEEKDAY_NAMES, start=1):
            draft = DayDraft(
                weekday,
                name,
                form.get(f"open-{weekday}") == "1",
                {key: (form.get(f"{key}-{weekday}") or "").strip()[:10] for key in TIMES},
            )
            drafts.append(draft)
        for draft in drafts:
            times = [parse_clock(draft.times[key], draft.name) for key in TIMES]
            week.append(
                hours_service.check_day(draft.weekday, draft.is_open, (times[0], times[1]), (times[2], times[3]))
            )
        wrote = await hours_service.save_week(request.app.ctx.db, week, actor=request.ctx.staff.user.username)
    except HoursRefused as refused:
        return await _view(request, drafts=drafts, error=str(refused), status=422)
    return redirect(f"/console/admin/hours?done={'week' if wrote else 'unchanged'}", status=303)


@hours_pages.post("/closures")
@staff_page(ADMIN)
async def add_closure(request: Request) -> HTTPResponse:
    raw_day, note = (request.form.get("day") or "").strip()[:10], (request.form.get("note") or "")[:200]
    try:
        try:
            day = dt.date.fromisoformat(raw_day)
        except ValueError:
            raise HoursRefused("请选择休息的日期（格式如 2026-10-01）。") from None
        await hours_service.add_closure(request.app.ctx.db, day, note, actor=request.ctx.staff.user.username)
    except HoursRefused as refused:
        return await _view(request, error=str(refused), closure_draft=(raw_day, note), status=422)
    return redirect("/console/admin/hours?done=closure", status=303)


@hours_pages.post("/closures/<day:str>/delete")
@staff_page(ADMIN)
async def remove_closure(request: Request, day: str) -> HTTPResponse:
    try:
        parsed = dt.date.fromisoformat(day)
    except ValueError:
        parsed = None
    if parsed is None or not await hours_service.remove_closure(
        request.app.ctx.db, parsed, actor=request.ctx.staff.user.username
    ):
        return render(request, "message.html", status=404, title="没有这个休息日", message="这一天不在休息日列表中。")
    return redirect("/console/admin/hours?done=reopened", status=303)


async def _view(
    request: Request,
    *,
    drafts: list[DayDraft] | None = None,
    error: str = "",
    done: str = "",
    closure_draft: tuple[str, str] = ("", ""),
    status: int = 200,
) -> HTTPResponse:
    today = _today(request)
    hours = await hours_service.load(request.app.ctx.db, request.app.ctx.settings.timezone, since=today)
    return render(
        request,
        "admin_hours.html",
        status=status,
        days=drafts or [DayDraft.of(day) for day in hours.week],
        defaults=hours_service.week_text(hours_service.DEFAULT_WEEK),
        stored=hours.stored,
        closures=hours.closures,
        today_text=hours.text_on(today),
        closure_draft=closure_draft,
        error=error,
        done=done,
    )
