"""The centre's opening hours for the bot, the action server and the pages: ``GET /api/v1/opening-hours``."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from backend.api.openapi import operation
from backend.api.schemas import ClosureOut, OpeningDayOut, OpeningHoursOut, OpeningPeriodOut, TodayHoursOut
from backend.services import opening_hours as hours_service
from backend.services.opening_hours import OpeningHours, Period

opening_hours = Blueprint("opening_hours", url_prefix="/api/v1/opening-hours")


def _periods(periods: tuple[Period, ...]) -> list[OpeningPeriodOut]:
    return [OpeningPeriodOut(label=p.label, start=f"{p.start:%H:%M}", end=f"{p.end:%H:%M}") for p in periods]


def hours_out(hours: OpeningHours, request: Request) -> OpeningHoursOut:
    """The hours as the API answers them, ``today`` by the app's clock."""
    now = request.app.ctx.clock()
    today = now.date()
    closure = hours.closure(today)
    return OpeningHoursOut(
        timezone=hours.zone.key,
        defaults=not hours.stored,
        summary=hours_service.week_text(hours.week),
        week=[
            OpeningDayOut(
                weekday=day.weekday, name=day.name, open=day.is_open, sessions=_periods(day.periods), text=day.text
            )
            for day in hours.week
        ],
        closures=[ClosureOut(date=c.day, note=c.note) for c in hours.closures],
        today=TodayHoursOut(
            date=today,
            open=bool(hours.periods_on(today)),
            open_now=hours.is_open(now),
            sessions=_periods(hours.periods_on(today)),
            text=hours.text_on(today),
            closure_note=closure.note if closure else None,
        ),
    )


@opening_hours.get("/", strict_slashes=False)
@operation("查看中心办公时间", tag="hours", responses={200: OpeningHoursOut})
async def get_opening_hours(request: Request):
    """The weekly hours, the closure days from today on, and today's hours."""
    zone = request.app.ctx.settings.timezone
    hours = await hours_service.load(request.app.ctx.db, zone, since=request.app.ctx.clock().date())
    return json(hours_out(hours, request).model_dump(mode="json"))
