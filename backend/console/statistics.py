"""The centre's numbers in the console (``/console/statistics``) and as CSV (``/console/statistics.csv``).

Everything is computed in SQL by `backend.services.statistics` for a period of local days (the last 30 days by
default); the page draws its charts as inline SVG on the server, so it needs no script and prints as it shows.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from sanic import Blueprint, Request, raw
from sanic.response import HTTPResponse

from backend.console.guard import staff_page
from backend.console.render import HEADERS, render
from backend.models import StaffRole
from backend.services import statistics
from backend.services.statistics_csv import to_csv

statistics_pages = Blueprint("console_statistics", url_prefix="/console")
DEFAULT_DAYS = 30
MAX_DAYS = 366
STAFF_WITH_NUMBERS = (StaffRole.FRONT_DESK, StaffRole.DEPARTMENT, StaffRole.ADMIN)


def _period(request: Request) -> tuple[statistics.Period, str]:
    """The period asked for (``from``, ``to``: ISO dates), or the last 30 days; and a message when the dates given
    could not be used."""
    today = request.app.ctx.clock().date()
    default = statistics.Period(today - dt.timedelta(days=DEFAULT_DAYS - 1), today, request.app.ctx.settings.timezone)
    raw_from, raw_to = request.args.get("from"), request.args.get("to")
    if not raw_from and not raw_to:
        return default, ""
    try:
        first = dt.date.fromisoformat(raw_from or "")
        last = dt.date.fromisoformat(raw_to or "")
    except ValueError:
        return default, "日期格式应为 2026-11-26，已显示最近 30 天。"
    if last < first or (last - first).days >= MAX_DAYS:
        return default, f"开始日期应不晚于结束日期，且最多 {MAX_DAYS} 天，已显示最近 30 天。"
    return statistics.Period(first, last, request.app.ctx.settings.timezone), ""


@statistics_pages.get("/statistics")
@staff_page(*STAFF_WITH_NUMBERS)
async def page(request: Request) -> HTTPResponse:
    period, problem = _period(request)
    report = await statistics.report(request.app.ctx.db, period, today=request.app.ctx.clock().date())
    names = {item.id: item.name for item in request.app.ctx.catalog.items}
    filed = report.filed
    return render(
        request,
        "statistics.html",
        report=report,
        problem=problem,
        by_day=[(day.strftime("%m-%d"), n) for day, n in filed.by_day.items()],
        by_department=list(filed.by_department.items()),
        by_channel=[(statistics.CHANNEL_LABELS.get(c, c), n) for c, n in filed.by_channel.items()],
        by_item=sorted(((names.get(i, i), n) for i, n in filed.by_item.items()), key=lambda row: -row[1]),
        departments=sorted({*report.handling.by_department, *report.overdue.by_department, *filed.by_department}),
        category_labels=statistics.CATEGORY_LABELS,
        csv_query=urlencode({"from": period.first.isoformat(), "to": period.last.isoformat()}),
    )


@statistics_pages.get("/statistics.csv")
@staff_page(*STAFF_WITH_NUMBERS)
async def csv_export(request: Request) -> HTTPResponse:
    period, _ = _period(request)
    report = await statistics.report(request.app.ctx.db, period, today=request.app.ctx.clock().date())
    name = f"jiujin-statistics-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    headers = HEADERS | {"Content-Disposition": f'attachment; filename="{name}"'}
    body = to_csv(report, request.app.ctx.catalog).encode("utf-8")
    return raw(body, content_type="text/csv; charset=utf-8", headers=headers)
