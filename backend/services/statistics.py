"""The centre's statistics for a period of local days: cases filed, 即办率, handling times, overdue cases, queue waits.

Everything is counted by the database (GROUP BY, window functions), so a year of cases costs a few small queries and
never a row per case in Python; only aggregates leave the database, never a resident's data.

A period is a range of local days in the centre's time zone, while timestamps are stored in UTC: a case filed at
23:30 in Hangzhou is stored at 15:30 UTC and belongs to that day. Two expressions differ between the databases and
live in `_Sql`: a timestamp's local day (PostgreSQL converts with the zone; SQLite has no time zones, so it adds the
zone's UTC offset, exact because Asia/Shanghai has had no daylight saving since 1991, and a zone whose offset
changes within the period is refused there) and a duration in seconds. Every day of the period appears in the
per-day tables, with zeros when nothing happened.

Percentiles are nearest-rank: the p-th percentile of n values is the value at rank ceil(p·n/100) in ascending
order, a value that really occurred (p90 of 1..10 is 9; of a single value, that value). Both databases compute it
with ROW_NUMBER() and COUNT() OVER the group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Float, Select, case, cast, extract, false, func, literal, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backend.case_status import CaseStatus
from backend.db import Database
from backend.models import Case, Channel, QueueTicket, TicketCategory, TicketStatus

CENTRE_ZONE = ZoneInfo("Asia/Shanghai")
PERCENTILE = 90
"""The percentile reported next to each mean (nearest-rank)."""

PENDING = frozenset(s for s in CaseStatus if not s.terminal) - {CaseStatus.COMPLETED}
"""Statuses of a case whose work is not done: 办结 is not terminal (出件/送达 follow) but the promise was kept."""


@dataclass(frozen=True)
class Period:
    """The local days ``first`` to ``last``, both included, in ``zone`` (the centre's ``Settings.timezone``)."""

    first: dt.date
    last: dt.date
    zone: ZoneInfo = CENTRE_ZONE

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"period ends ({self.last}) before it starts ({self.first})")

    def days(self) -> Iterator[dt.date]:
        """Every local day of the period, in order."""
        for offset in range((self.last - self.first).days + 1):
            yield self.first + dt.timedelta(days=offset)

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) in UTC: midnight of ``first`` and of the day after ``last``, local time.

        UTC because SQLite stores a datetime's wall-clock time and drops its zone."""
        start = dt.datetime.combine(self.first, dt.time(), self.zone)
        end = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), self.zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass(frozen=True)
class FiledCases:
    """Cases filed in the period (``created_at``), counted per item id, department, channel and local day."""

    total: int
    by_item: Mapping[str, int]
    by_department: Mapping[str, int]
    by_channel: Mapping[str, int]
    """Keys are ``Channel`` values."""
    by_day: Mapping[dt.date, int]
    """Every day of the period, 0 when nothing was filed."""


@dataclass(frozen=True)
class ImmediateRate:
    """即办件占比 and 即办率.

    即办件占比 = ``filed_immediate / filed``: the share of the period's filed cases that are of 即办 items.
    即办率 = ``completed_same_day / completed``: of the 即办 cases completed in the period (``completed_at``), the share
    completed on the local day they were accepted. A case that went 待受理 → 待补正 → 办理中 has no acceptance time
    and is left out, since when it was taken up is not recorded.
    """

    filed: int
    filed_immediate: int
    completed: int
    completed_same_day: int

    @property
    def share(self) -> float | None:
        """即办件占比 (0..1); None when nothing was filed."""
        return self.filed_immediate / self.filed if self.filed else None

    @property
    def rate(self) -> float | None:
        """即办率 (0..1); None when no 即办 case was completed."""
        return self.completed_same_day / self.completed if self.completed else None


@dataclass(frozen=True)
class Distribution:
    """How many values were measured, their mean and their nearest-rank p90 (None when there are none)."""

    count: int
    mean: float | None
    p90: float | None


@dataclass(frozen=True)
class HandlingTimes:
    """Hours from acceptance to completion of the cases completed in the period (those accepted; see ImmediateRate)."""

    overall: Distribution
    by_department: Mapping[str, Distribution]


@dataclass(frozen=True)
class DepartmentOverdue:
    """One department's late work."""

    open_overdue: int
    """Cases not yet done (``PENDING``) whose deadline is before ``today``."""
    awaiting_correction: int
    """Of those, cases waiting for the resident's missing materials (待补正)."""
    oldest_deadline: dt.date | None
    completed_with_deadline: int
    """Cases with a deadline (承诺件) completed in the period."""
    completed_late: int
    """Of those, cases completed on a local day after their deadline (the deadline day itself is on time)."""


@dataclass(frozen=True)
class Overdue:
    """Late work per department: open cases as of ``today`` (whatever the period), late completions in the period."""

    today: dt.date
    by_department: Mapping[str, DepartmentOverdue]


@dataclass(frozen=True)
class TicketWaits:
    """Queue tickets of some service days: issued, no-shows, and minutes from taking the number to its call.

    ``waited`` covers the tickets that were called (served, no-shows and those still at a window); a ticket
    transferred to another window is measured to its last call, since each call sets ``called_at`` anew."""

    issued: int
    no_shows: int
    waited: Distribution


@dataclass(frozen=True)
class QueueWaits:
    """The period's queue tickets (by ``service_day``), in total, per category (A/V) and per day (every day)."""

    overall: TicketWaits
    by_category: Mapping[str, TicketWaits]
    by_day: Mapping[dt.date, TicketWaits]


@dataclass(frozen=True)
class Report:
    """All the statistics of a period, as the console's statistics page and the CSV export show them."""

    period: Period
    filed: FiledCases
    immediate: ImmediateRate
    handling: HandlingTimes
    overdue: Overdue
    queue: QueueWaits


@dataclass(frozen=True)
class _Sql:
    """The SQL that differs between PostgreSQL and SQLite: a timestamp's local day and a duration."""

    postgres: bool
    zone: str
    sqlite_offset: str = ""
    """SQLite date() modifier adding the zone's fixed UTC offset, e.g. '+480 minutes'."""

    def local_day(self, moment: ColumnElement[Any]) -> ColumnElement[dt.date]:
        """The local date of a UTC timestamp (rendered inline so GROUP BY repeats the SELECT's expression)."""
        if self.postgres:
            return cast(func.timezone(literal(self.zone, literal_execute=True), moment), Date)
        return type_coerce(func.date(moment, literal(self.sqlite_offset, literal_execute=True)), Date)

    def seconds(self, start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[float]:
        """Seconds from ``start`` to ``end`` (NULL when either is)."""
        if self.postgres:
            return cast(extract("epoch", end - start), Float)
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)


def _sql(session: AsyncSession, period: Period) -> _Sql:
    zone = period.zone.key
    if session.bind.dialect.name == "postgresql":
        return _Sql(postgres=True, zone=zone)
    edges = [*period.days(), period.last + dt.timedelta(days=1)]
    offsets = {dt.datetime.combine(day, dt.time(), period.zone).utcoffset() or dt.timedelta() for day in edges}
    if len(offsets) != 1:
        raise ValueError(f"SQLite cannot group by local day in {zone}: its UTC offset changes in the period")
    minutes = int(offsets.pop().total_seconds()) // 60
    return _Sql(postgres=False, zone=zone, sqlite_offset=f"{minutes:+d} minutes")


def _between(column: ColumnElement[Any], period: Period) -> list[ColumnElement[bool]]:
    start, end = period.utc_bounds()
    return [column >= start, column < end]


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _counts(
    session: AsyncSession, key: ColumnElement[Any], where: Sequence[ColumnElement[bool]]
) -> dict[Any, int]:
    """Rows per value of ``key`` (enum members by their value), most first."""
    statement = select(key, func.count()).where(*where).group_by(key).order_by(func.count().desc(), key)
    return {getattr(k, "value", k): int(n) for k, n in await session.execute(statement)}


def _distributions(
    value: ColumnElement[float],
    keys: Sequence[ColumnElement[Any]],
    where: Sequence[ColumnElement[bool]],
    flag: ColumnElement[bool] | None = None,
) -> Select:
    """Per group of ``keys``: (*keys, rows, rows where ``flag``, count, mean and p90 of the non-NULL values).

    NULL values are ranked after the others, so ranks 1..known are the known values in ascending order and the
    nearest rank ceil(p·known/100) is computed in integers as (p·known + 99) // 100."""
    partition = list(keys) or None
    ranked = (
        select(
            *(key.label(f"key{i}") for i, key in enumerate(keys)),
            value.label("value"),
            case((false() if flag is None else flag, 1), else_=0).label("flag"),
            func.row_number()
            .over(partition_by=partition, order_by=(case((value.is_(None), 1), else_=0), value))
            .label("rank"),
            func.count(value).over(partition_by=partition).label("known"),
        )
        .where(*where)
        .subquery()
    )
    group = [ranked.c[f"key{i}"] for i in range(len(keys))]
    nearest = (ranked.c.known * PERCENTILE + 99) // 100
    return (
        select(
            *group,
            func.count(),
            func.coalesce(func.sum(ranked.c.flag), 0),
            func.count(ranked.c.value),
            func.avg(ranked.c.value),
            func.max(case((ranked.c.rank == nearest, ranked.c.value))),
        )
        .group_by(*group)
        .order_by(*group)
    )


def _distribution(count: Any, mean: Any, p90: Any) -> Distribution:
    return Distribution(int(count), None if mean is None else float(mean), None if p90 is None else float(p90))


async def filed_cases(db: Database, period: Period) -> FiledCases:
    """Cases filed in the period, per item, department, channel and local day."""
    async with db.read() as session:
        sql = _sql(session, period)
        where = _between(Case.created_at, period)
        total = (await session.execute(select(func.count()).select_from(Case).where(*where))).scalar_one()
        by_item = await _counts(session, Case.item_id, where)
        by_department = await _counts(session, Case.department, where)
        by_channel = await _counts(session, Case.channel, where)
        by_day = await _counts(session, sql.local_day(Case.created_at), where)
    return FiledCases(
        total=int(total),
        by_item=by_item,
        by_department=by_department,
        by_channel=by_channel,
        by_day={day: by_day.get(day, 0) for day in period.days()},
    )


async def immediate_rate(db: Database, period: Period) -> ImmediateRate:
    """即办件占比 of the cases filed in the period and 即办率 of the 即办 cases completed in it (see ImmediateRate)."""
    async with db.read() as session:
        sql = _sql(session, period)
        filed = select(func.count(), _count_if(Case.immediate.is_(True))).where(*_between(Case.created_at, period))
        same_day = sql.local_day(Case.accepted_at) == sql.local_day(Case.completed_at)
        completed = select(func.count(), _count_if(same_day)).where(
            Case.immediate.is_(True), Case.accepted_at.is_not(None), *_between(Case.completed_at, period)
        )
        filed_all, filed_immediate = (await session.execute(filed)).one()
        completed_all, completed_same_day = (await session.execute(completed)).one()
    return ImmediateRate(int(filed_all), int(filed_immediate), int(completed_all), int(completed_same_day))


async def handling_times(db: Database, period: Period) -> HandlingTimes:
    """Hours from acceptance to completion of the cases completed in the period: mean and p90, overall and per
    department."""
    async with db.read() as session:
        hours = _sql(session, period).seconds(Case.accepted_at, Case.completed_at) / 3600.0
        where = [Case.accepted_at.is_not(None), *_between(Case.completed_at, period)]
        _, _, *overall = (await session.execute(_distributions(hours, [], where))).one()
        rows = await session.execute(_distributions(hours, [Case.department], where))
        by_department = {department: _distribution(*measured) for department, _, _, *measured in rows}
    return HandlingTimes(_distribution(*overall), by_department)


async def overdue(db: Database, period: Period, *, today: dt.date) -> Overdue:
    """Per department: open cases past their deadline as of ``today``, and cases completed late in the period."""
    async with db.read() as session:
        late = _sql(session, period).local_day(Case.completed_at) > Case.deadline
        open_cases = (
            select(
                Case.department,
                func.count(),
                _count_if(Case.status == CaseStatus.NEEDS_CORRECTION),
                func.min(Case.deadline),
            )
            .where(Case.status.in_(PENDING), Case.deadline < today)
            .group_by(Case.department)
        )
        completed = (
            select(Case.department, func.count(), _count_if(late))
            .where(Case.deadline.is_not(None), *_between(Case.completed_at, period))
            .group_by(Case.department)
        )
        open_rows = {d: (int(n), int(c), oldest) for d, n, c, oldest in await session.execute(open_cases)}
        completed_rows = {d: (int(n), int(k)) for d, n, k in await session.execute(completed)}
    by_department = {
        department: DepartmentOverdue(*open_rows.get(department, (0, 0, None)), *completed_rows.get(department, (0, 0)))
        for department in sorted(open_rows.keys() | completed_rows.keys())
    }
    return Overdue(today, by_department)


async def queue_waits(db: Database, period: Period) -> QueueWaits:
    """The period's queue tickets: issued, no-shows, and waiting minutes (mean, p90), overall, per category, per day."""
    async with db.read() as session:
        minutes = _sql(session, period).seconds(QueueTicket.created_at, QueueTicket.called_at) / 60.0
        where = [QueueTicket.service_day >= period.first, QueueTicket.service_day <= period.last]
        no_show = QueueTicket.status == TicketStatus.SKIPPED

        def waits(issued: Any, no_shows: Any, *measured: Any) -> TicketWaits:
            return TicketWaits(int(issued), int(no_shows), _distribution(*measured))

        overall = waits(*(await session.execute(_distributions(minutes, [], where, no_show))).one())
        categories = _distributions(minutes, [QueueTicket.category], where, no_show)
        by_category = {category.value: waits(*rest) for category, *rest in await session.execute(categories)}
        days = _distributions(minutes, [QueueTicket.service_day], where, no_show)
        by_day = {day: waits(*rest) for day, *rest in await session.execute(days)}
    nothing = TicketWaits(0, 0, Distribution(0, None, None))
    return QueueWaits(overall, by_category, {day: by_day.get(day, nothing) for day in period.days()})


async def report(db: Database, period: Period, *, today: dt.date) -> Report:
    """Every statistic of the period; open overdue cases are counted as of ``today``."""
    return Report(
        period=period,
        filed=await filed_cases(db, period),
        immediate=await immediate_rate(db, period),
        handling=await handling_times(db, period),
        overdue=await overdue(db, period, today=today),
        queue=await queue_waits(db, period),
    )


CHANNEL_LABELS = {Channel.WECHAT: "微信", Channel.CHAT: "在线对话", Channel.COUNTER: "窗口", Channel.PROXY: "代办"}
CATEGORY_LABELS = {TicketCategory.GENERAL: "综合窗口(A)", TicketCategory.PRIORITY: "绿色通道(V)"}
