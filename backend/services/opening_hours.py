"""The centre's opening hours: a morning and an afternoon session per weekday, closure days (holidays), `is_open`.

DOMAIN.md gives no opening hours for the centre, so `DEFAULT_WEEK` is the most common practice of Hangzhou's street
and community service centres (周一至周五 08:30–12:00、13:30–17:00, closed at weekends); check it against the
centre's own notice. Admins change the hours at ``/console/admin/hours``; until they save, the defaults apply.
Times are the centre's local time (``Settings.timezone``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from backend.db import Database
from backend.models import ClosureDay, OpeningDay
from backend.services import audit

WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
"""By ISO weekday - 1."""
MAX_NOTE = 100
CENTRE_ZONE = ZoneInfo("Asia/Shanghai")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class HoursRefused(ValueError):
    """Hours or a closure day that do not make sense; the message is Chinese."""


@dataclass(frozen=True)
class Period:
    """One session, from ``start`` (included) to ``end`` (excluded)."""

    label: str
    """上午 or 下午."""
    start: dt.time
    end: dt.time

    @property
    def text(self) -> str:
        """``08:30–12:00``."""
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


@dataclass(frozen=True)
class DayHours:
    """The hours of one weekday."""

    weekday: int
    """ISO weekday: 1 = Monday … 7 = Sunday."""
    is_open: bool
    morning: Period | None = None
    afternoon: Period | None = None

    @property
    def name(self) -> str:
        """周一 … 周日."""
        return WEEKDAY_NAMES[self.weekday - 1]

    @property
    def periods(self) -> tuple[Period, ...]:
        """The sessions of an open day, morning first; () when closed."""
        return tuple(p for p in (self.morning, self.afternoon) if p is not None) if self.is_open else ()

    @property
    def text(self) -> str:
        """``08:30–12:00、13:30–17:00`` or ``休息``."""
        return "、".join(p.text for p in self.periods) or "休息"


@dataclass(frozen=True)
class Closure:
    """A day the centre is closed, and why."""

    day: dt.date
    note: str


def _day(weekday: int, morning: tuple[str, str] | None, afternoon: tuple[str, str] | None) -> DayHours:
    def period(label: str, times: tuple[str, str] | None) -> Period | None:
        return Period(label, dt.time.fromisoformat(times[0]), dt.time.fromisoformat(times[1])) if times else None

    return DayHours(weekday, True, period("上午", morning), period("下午", afternoon))


def week_text(week: Sequence[DayHours]) -> str:
    """``周一至周五 08:30–12:00、13:30–17:00；周六、周日 休息``: runs of days with the same hours together."""
    runs: list[list[DayHours]] = []
    for day in week:
        if runs and runs[-1][-1].text == day.text:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = {1: "{0}", 2: "{0}、{1}"}
    return "；".join(
        f"{names.get(len(run), '{0}至{1}').format(run[0].name, run[-1].name)} {run[0].text}" for run in runs
    )


_WORKDAY = (("08:30", "12:00"), ("13:30", "17:00"))
DEFAULT_WEEK: tuple[DayHours, ...] = (
    *(_day(weekday, *_WORKDAY) for weekday in range(1, 6)),
    DayHours(6, False),
    DayHours(7, False),
)


@dataclass(frozen=True)
class OpeningHours:
    """The weekly hours (Monday first) and the closure days, in the centre's time zone."""

    week: tuple[DayHours, ...] = DEFAULT_WEEK
    closures: tuple[Closure, ...] = ()
    zone: ZoneInfo = CENTRE_ZONE
    stored: bool = False
    """False while no admin has saved weekly hours (the defaults apply)."""

    def closure(self, day: dt.date) -> Closure | None:
        """The closure of ``day``, if it is one."""
        return next((c for c in self.closures if c.day == day), None)

    def periods_on(self, day: dt.date) -> tuple[Period, ...]:
        """The sessions of ``day``: () on a closure day or a closed weekday."""
        return () if self.closure(day) else self.week[day.isoweekday() - 1].periods

    def text_on(self, day: dt.date) -> str:
        """``08:30–12:00、13:30–17:00``, ``休息`` or ``休息（国庆节）``."""
        closure = self.closure(day)
        if closure:
            return f"休息（{closure.note}）"
        return self.week[day.isoweekday() - 1].text

    def is_open(self, moment: dt.datetime) -> bool:
        """True when the centre is open at ``moment`` (an aware time in any zone, or a naive centre-local one)."""
        local = moment.astimezone(self.zone) if moment.tzinfo else moment
        clock = local.time().replace(tzinfo=None)
        return any(p.start <= clock < p.end for p in self.periods_on(local.date()))


# --- reading and checking ------------------------------------------------------------------------------------------
async def load(db: Database, zone: ZoneInfo = CENTRE_ZONE, *, since: dt.date | None = None) -> OpeningHours:
    """The stored hours (or the defaults) and the closure days (those from ``since`` on, when given)."""
    async with db.read() as session:
        days = {row.weekday: row for row in (await session.execute(select(OpeningDay))).scalars()}
        statement = select(ClosureDay).order_by(ClosureDay.day)
        if since is not None:
            statement = statement.where(ClosureDay.day >= since)
        closures = tuple(Closure(row.day, row.note) for row in (await session.execute(statement)).scalars())
    week = DEFAULT_WEEK
    if days:
        week = tuple(
            _stored_day(days[weekday]) if weekday in days else DEFAULT_WEEK[weekday - 1] for weekday in range(1, 8)
        )
    return OpeningHours(week, closures, zone, stored=bool(days))


def _stored_day(row: OpeningDay) -> DayHours:
    def period(label: str, start: dt.time | None, end: dt.time | None) -> Period | None:
        return Period(label, start, end) if start is not None and end is not None else None

    return DayHours(
        row.weekday,
        row.is_open,
        period("上午", row.morning_start, row.morning_end),
        period("下午", row.afternoon_start, row.afternoon_end),
    )


async def is_open(db: Database, moment: dt.datetime, zone: ZoneInfo = CENTRE_ZONE) -> bool:
    """True when the centre is open at ``moment``, by the stored hours and closure days."""
    return (await load(db, zone)).is_open(moment)


def parse_clock(raw: str, what: str) -> dt.time | None:
    """``8:30`` or ``08:30`` as a time; None for an empty field; HoursRefused naming ``what`` otherwise."""
    raw = raw.strip()
    if not raw:
        return None
    matched = _CLOCK.match(raw)
    if matched is None:
        raise HoursRefused(f"{what}的时间“{raw[:10]}”格式不正确，请写成 08:30 这样。")
    return dt.time(int(matched.group(1)), int(matched.group(2)))


Times = tuple[dt.time | None, dt.time | None]


def check_day(weekday: int, is_open: bool, morning: Times, afternoon: Times) -> DayHours:
    """One weekday as an admin filled it in; HoursRefused says what is wrong. A closed day keeps no times."""
    name = WEEKDAY_NAMES[weekday - 1]
    if not is_open:
        return DayHours(weekday, False)
    periods: list[Period | None] = []
    for label, (start, end) in (("上午", morning), ("下午", afternoon)):
        if start is None and end is None:
            periods.append(None)
            continue
        if start is None or end is None:
            raise HoursRefused(f"{name}{label}要同时填写开始和结束时间（不办公就都不填）。")
        if start >= end:
            raise HoursRefused(f"{name}{label}的开始时间要早于结束时间。")
        periods.append(Period(label, start, end))
    first, second = periods
    if first is None and second is None:
        raise HoursRefused(f"{name}设为办公，但上午和下午都没有填写时间；如不办公，请取消“办公”。")
    if first is not None and second is not None and first.end > second.start:
        raise HoursRefused(f"{name}上午的结束时间不能晚于下午的开始时间。")
    return DayHours(weekday, True, first, second)


# --- changing ------------------------------------------------------------------------------------------------------
async def save_week(db: Database, week: Sequence[DayHours], *, actor: str) -> bool:
    """Store the seven days (checked by `check_day`) and audit the days that changed; False when the stored week
    is the same already (nothing written)."""
    if sorted(day.weekday for day in week) != list(range(1, 8)):
        raise HoursRefused("需要填写周一到周日全部七天。")
    before = await load(db)
    changed = {
        day.name: {"before": before.week[day.weekday - 1].text, "after": day.text}
        for day in week
        if before.week[day.weekday - 1] != day
    }
    if not changed and before.stored:
        return False
    async with db.write() as session:
        await session.execute(delete(OpeningDay))
        for day in sorted(week, key=lambda d: d.weekday):
            morning, afternoon = day.morning, day.afternoon
            session.add(
                OpeningDay(
                    weekday=day.weekday,
                    is_open=day.is_open,
                    morning_start=morning.start if morning else None,
                    morning_end=morning.end if morning else None,
                    afternoon_start=afternoon.start if afternoon else None,
                    afternoon_end=afternoon.end if afternoon else None,
                    updated_by=actor,
                )
            )
        audit.record(session, actor, "hours.week", "hours", "week", changed=changed)
    return True


async def add_closure(db: Database, day: dt.date, note: str, *, actor: str) -> bool:
    """Make ``day`` a closure day (or change its note); True when it was new."""
    note = note.strip()
    if not note:
        raise HoursRefused("请写明休息的原因（例如“国庆节”）。")
    if len(note) > MAX_NOTE:
        raise HoursRefused(f"休息日说明太长了，最多 {MAX_NOTE} 个字。")
    async with db.write() as session:
        row = await session.get(ClosureDay, day)
        previous = row.note if row else None
        if row is None:
            session.add(ClosureDay(day=day, note=note, created_by=actor))
        else:
            row.note = note
        audit.record(session, actor, "hours.closure_add", "closure", day.isoformat(), note=note, previous=previous)
    return previous is None


async def remove_closure(db: Database, day: dt.date, *, actor: str) -> bool:
    """Open ``day`` again as its weekday says; False when it was not a closure day."""
    async with db.write() as session:
        row = await session.get(ClosureDay, day)
        if row is None:
            return False
        await session.delete(row)
        audit.record(session, actor, "hours.closure_remove", "closure", day.isoformat(), note=row.note)
    return True
