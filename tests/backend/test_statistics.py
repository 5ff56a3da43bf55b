"""The centre's statistics on SQLite and PostgreSQL, against figures worked out by hand from a small seeded hall.

The period is Monday 2 to Wednesday 4 November 2026 in Hangzhou (UTC+8); "today" is Thursday 5 November. Rows are
written through the ORM with UTC timestamps, as the services write them; `at(day, "HH:MM")` is a Hangzhou wall-clock
time turned into UTC.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import itertools
import random
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backend import migrate
from backend.case_status import CaseStatus
from backend.catalog.schema import Catalog
from backend.db import Database
from backend.models import Case, Channel, QueueTicket, Resident, TicketCategory, TicketStatus
from backend.services import statistics
from backend.services.statistics import DepartmentOverdue, Distribution, Period, TicketWaits
from backend.services.statistics_csv import to_csv
from harness.ids import resident_id_number

HANGZHOU = ZoneInfo("Asia/Shanghai")
PERIOD = Period(dt.date(2026, 11, 2), dt.date(2026, 11, 4))
TODAY = dt.date(2026, 11, 5)
NOV = [dt.date(2026, 11, day) for day in (2, 3, 4)]
_numbers = itertools.count(1)

S = CaseStatus
MEDICAL = "medical_record_book"  # 医保, 即办
PENSION = "pension_certification"  # 社保, 即办
LONGEVITY = "longevity_allowance"  # 民政, 承诺件
PERMIT = "residence_permit"  # 公安, 承诺件
ONLY_CHILD = "only_child_certificate"  # 卫健, 承诺件
DEPARTMENTS = {MEDICAL: "医保", PENSION: "社保", LONGEVITY: "民政", PERMIT: "公安", ONLY_CHILD: "卫健"}


def at(day: int, clock: str, month: int = 11) -> dt.datetime:
    """Hangzhou wall-clock time on 2026-<month>-<day>, in UTC."""
    hour, minute = map(int, clock.split(":"))
    return dt.datetime(2026, month, day, hour, minute, tzinfo=HANGZHOU).astimezone(dt.UTC)


def case(
    item: str,
    channel: Channel,
    status: CaseStatus,
    filed: dt.datetime,
    accepted: dt.datetime | None = None,
    completed: dt.datetime | None = None,
    deadline: dt.date | None = None,
) -> dict[str, Any]:
    return {
        "case_number": f"JJ-T-{next(_numbers):04d}",
        "item_id": item,
        "department": DEPARTMENTS[item],
        "channel": channel,
        "status": status,
        "immediate": item in (MEDICAL, PENSION),
        "deadline": deadline,
        "created_at": filed,
        "accepted_at": accepted,
        "completed_at": completed,
    }


W, T, C, P = Channel.WECHAT, Channel.CHAT, Channel.COUNTER, Channel.PROXY  # T: typed chat over REST
CASES = [
    # 即办: K1 filed 23:30 on the 2nd (15:30 UTC), K2 00:30 on the 3rd (16:30 UTC, still the 2nd in UTC).
    case(MEDICAL, C, S.COMPLETED, at(2, "23:30"), at(2, "23:40"), at(3, "00:10")),  # K1 0.5 h, over midnight
    case(MEDICAL, W, S.HANDED_OUT, at(3, "00:30"), at(3, "09:00"), at(3, "09:30")),  # K2 0.5 h, same day
    case(PENSION, C, S.COMPLETED, at(3, "10:00"), at(3, "10:00"), at(3, "10:45")),  # K3 0.75 h, same day
    case(PENSION, P, S.COMPLETED, at(4, "16:00"), at(4, "16:00"), at(5, "09:00")),  # K4 completed after the period
    case(PENSION, C, S.SUBMITTED, at(4, "23:59")),  # K5 last minute of the period
    # 承诺件 of 民政, all due on the 3rd but P4.
    case(LONGEVITY, C, S.COMPLETED, at(2, "09:00"), at(2, "09:00"), at(4, "10:00"), NOV[1]),  # P1 49 h, late
    case(LONGEVITY, T, S.DELIVERED, at(2, "10:00"), at(2, "10:00"), at(3, "23:30"), NOV[1]),  # P2 37.5 h, on time
    case(LONGEVITY, C, S.COMPLETED, at(2, "11:00"), at(2, "11:00"), at(4, "00:30"), NOV[1]),  # P3 37.5 h, late
    # P4: 待受理 → 待补正 → 办理中 → 办结 never sets accepted_at: no handling time, on time.
    case(LONGEVITY, C, S.COMPLETED, at(3, "08:00"), None, at(3, "15:00"), dt.date(2026, 11, 10)),
    # Outside the period: one minute before it starts (15:59 UTC on the 1st) and at its end (16:00 UTC on the 4th).
    case(PERMIT, C, S.ACCEPTED, at(1, "23:59"), at(1, "23:59"), deadline=TODAY),  # due today: not overdue yet
    case(PERMIT, W, S.SUBMITTED, at(5, "00:00")),
    # Filed in October: open and overdue, or done.
    case(LONGEVITY, C, S.PROCESSING, at(20, "09:00", 10), at(20, "09:00", 10), deadline=NOV[2]),  # O1 overdue
    case(LONGEVITY, C, S.NEEDS_CORRECTION, at(15, "09:00", 10), at(15, "09:00", 10), deadline=dt.date(2026, 11, 1)),
    case(PERMIT, C, S.COMPLETED, at(10, "09:00", 10), at(10, "09:00", 10), at(29, "09:00", 10), dt.date(2026, 10, 30)),
    case(ONLY_CHILD, C, S.WITHDRAWN, at(10, "09:00", 10), deadline=dt.date(2026, 10, 30)),  # terminal
    case(ONLY_CHILD, W, S.SUBMITTED, at(25, "09:00", 10), deadline=dt.date(2026, 10, 31)),  # O5 never accepted
]


def ticket(day: int, category: TicketCategory, seq: int, wait: int | None, status: TicketStatus) -> QueueTicket:
    """A ticket taken at 09:00 on 2026-11-<day> and called ``wait`` minutes later (None: never called)."""
    taken = at(day, "09:00") + dt.timedelta(seconds=seq)
    return QueueTicket(
        service_day=dt.date(2026, 11, day),
        category=category,
        seq=seq,
        number=f"{category.value}{seq:03d}",
        channel=Channel.COUNTER,
        status=status,
        created_at=taken,
        called_at=None if wait is None else taken + dt.timedelta(minutes=wait),
    )


A, V = TicketCategory.GENERAL, TicketCategory.PRIORITY
DONE, NO_SHOW = TicketStatus.SERVED, TicketStatus.SKIPPED


def tickets() -> list[QueueTicket]:
    waits_on_the_3rd = list(range(1, 11))  # 1..10 minutes; the 10-minute one did not show up
    random.Random(7).shuffle(waits_on_the_3rd)  # inserted out of order: the ranking must sort
    return [
        ticket(2, A, 1, 3, NO_SHOW),
        *(ticket(3, A, seq, w, NO_SHOW if w == 10 else DONE) for seq, w in enumerate(waits_on_the_3rd, 1)),
        ticket(4, V, 1, 2, DONE),
        ticket(4, V, 2, 4, DONE),
        ticket(4, V, 3, None, TicketStatus.WAITING),
        ticket(1, A, 1, 100, DONE),  # outside the period
        ticket(5, A, 1, 100, DONE),
    ]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An empty, migrated database of each kind."""
    await asyncio.get_running_loop().run_in_executor(None, migrate.upgrade, database_url)
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def seeded(db: Database) -> Database:
    """The hall of the module docstring."""
    async with db.write() as session:
        resident = Resident(id_number=resident_id_number(), name="王秀英")
        session.add(resident)
        await session.flush()
        session.add_all(Case(resident_id=resident.id, **row) for row in CASES)
        session.add_all(tickets())
    return db


def test_seeded_times_and_period_bounds_are_utc() -> None:
    assert at(2, "23:30") == dt.datetime(2026, 11, 2, 15, 30, tzinfo=dt.UTC)
    assert at(3, "00:30") == dt.datetime(2026, 11, 2, 16, 30, tzinfo=dt.UTC)
    assert PERIOD.utc_bounds() == (
        dt.datetime(2026, 11, 1, 16, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 4, 16, tzinfo=dt.UTC),
    )


async def test_filed_cases_are_counted_by_local_day(seeded: Database) -> None:
    filed = await statistics.filed_cases(seeded, PERIOD)
    assert filed.total == 9  # K1-K5, P1-P4; not the two just outside the period, not October's
    assert filed.by_day == {NOV[0]: 4, NOV[1]: 3, NOV[2]: 2}  # 2nd: K1 P1 P2 P3; 3rd: K2 K3 P4; 4th: K4 K5
    assert filed.by_item == {LONGEVITY: 4, PENSION: 3, MEDICAL: 2}
    assert list(filed.by_item) == [LONGEVITY, PENSION, MEDICAL]  # most filed first
    assert filed.by_department == {"民政": 4, "社保": 3, "医保": 2}
    assert filed.by_channel == {"counter": 6, "chat": 1, "proxy": 1, "wechat": 1}  # counter: K1 K3 K5 P1 P3 P4


async def test_immediate_rate_counts_same_local_day_completions(seeded: Database) -> None:
    rate = await statistics.immediate_rate(seeded, PERIOD)
    # K1 was accepted 23:40 and completed 00:10 (both on the 2nd in UTC, but two local days); K2, K3 same day;
    # K4 completed after the period.
    assert (rate.filed, rate.filed_immediate, rate.completed, rate.completed_same_day) == (9, 5, 3, 2)
    assert rate.share == pytest.approx(5 / 9)  # 0.556
    assert rate.rate == pytest.approx(2 / 3)  # 0.667


async def test_handling_time_mean_and_nearest_rank_p90(seeded: Database) -> None:
    handling = await statistics.handling_times(seeded, PERIOD)
    # Six measured: 0.5 0.5 0.75 37.5 37.5 49 (P4 has no acceptance time); rank ceil(0.9 × 6) = 6 → 49.
    assert handling.overall == Distribution(6, pytest.approx(125.75 / 6), pytest.approx(49))  # mean 20.958
    assert handling.by_department == {
        "医保": Distribution(2, pytest.approx(0.5), pytest.approx(0.5)),  # ceil(1.8) = 2
        "民政": Distribution(3, pytest.approx(124 / 3), pytest.approx(49)),  # 37.5 37.5 49; ceil(2.7) = 3
        "社保": Distribution(1, pytest.approx(0.75), pytest.approx(0.75)),
    }


async def test_overdue_open_cases_and_late_completions(seeded: Database) -> None:
    late = await statistics.overdue(seeded, PERIOD, today=TODAY)
    assert late.by_department == {
        # O1 (due the 4th) and O2 (待补正, due the 1st) are open and overdue; of P1-P4, P1 and P3 were late: P3 was
        # completed at 00:30 on the 4th, still the 3rd (its deadline) in UTC.
        "民政": DepartmentOverdue(2, 1, dt.date(2026, 11, 1), 4, 2),
        "卫健": DepartmentOverdue(1, 0, dt.date(2026, 10, 31), 0, 0),  # O5, never accepted; the withdrawn one is not
    }  # 公安: the one due today is not overdue, the one done in October is done


async def test_queue_waits_per_category_and_day_with_no_shows(seeded: Database) -> None:
    queue = await statistics.queue_waits(seeded, PERIOD)
    # The 3rd: 1..10 minutes, mean 5.5, rank ceil(0.9 × 10) = 9 → 9 (not the maximum).
    assert queue.by_day == {
        NOV[0]: TicketWaits(1, 1, Distribution(1, pytest.approx(3), pytest.approx(3))),
        NOV[1]: TicketWaits(10, 1, Distribution(10, pytest.approx(5.5), pytest.approx(9))),
        NOV[2]: TicketWaits(3, 0, Distribution(2, pytest.approx(3), pytest.approx(4))),  # 2, 4; one still waiting
    }
    assert queue.by_category == {
        # A: 1..10 and 3 → 1 2 3 3 4 5 6 7 8 9 10; mean 58 / 11; rank ceil(9.9) = 10 → 9.
        "A": TicketWaits(11, 2, Distribution(11, pytest.approx(58 / 11), pytest.approx(9))),
        "V": TicketWaits(3, 0, Distribution(2, pytest.approx(3), pytest.approx(4))),
    }
    # All 13 called: 1 2 2 3 3 4 4 5 6 7 8 9 10, mean 64 / 13; rank ceil(11.7) = 12 → 9.
    assert queue.overall == TicketWaits(14, 2, Distribution(13, pytest.approx(64 / 13), pytest.approx(9)))


async def test_an_empty_period_has_every_day_and_no_means(db: Database) -> None:
    report = await statistics.report(db, PERIOD, today=TODAY)
    assert report.filed.by_day == dict.fromkeys(NOV, 0)
    assert report.immediate.share is None
    assert report.immediate.rate is None
    assert report.handling.overall == Distribution(0, None, None)
    assert report.handling.by_department == {}
    assert report.overdue.by_department == {}
    assert report.queue.overall == TicketWaits(0, 0, Distribution(0, None, None))
    assert report.queue.by_day == dict.fromkeys(NOV, TicketWaits(0, 0, Distribution(0, None, None)))


def sections(text: str) -> dict[str, list[list[str]]]:
    """CSV sections by title: header row first."""
    found: dict[str, list[list[str]]] = {}
    title = ""
    for row in csv.reader(io.StringIO(text)):
        if len(row) == 1 and row[0].startswith("【"):
            title = row[0].strip("【】")
            found[title] = []
        elif row:
            found[title].append(row)
    return found


async def test_the_csv_opens_in_excel_and_reads_back(seeded: Database, catalog: Catalog) -> None:
    text = to_csv(await statistics.report(seeded, PERIOD, today=TODAY), catalog)
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    tables = sections(text.removeprefix("\ufeff"))
    assert tables["受理量·按事项"] == [
        ["事项编码", "事项名称", "件数"],
        [LONGEVITY, "高龄津贴", "4"],
        [PENSION, "养老保险待遇领取资格认证", "3"],
        [MEDICAL, "杭州市基本医疗保险证历本申领", "2"],
    ]
    assert tables["受理量·按渠道"][1:] == [["窗口", "6"], ["在线对话", "1"], ["代办", "1"], ["微信", "1"]]
    assert tables["受理量·按日"][1:] == [["2026-11-02", "4"], ["2026-11-03", "3"], ["2026-11-04", "2"]]
    assert tables["即办"][1] == ["9", "5", "55.6", "3", "2", "66.7"]  # 5/9, 2/3 in per cent
    assert tables["办理时长（受理至办结）"][1] == ["全部", "6", "20.96", "49.00"]
    assert tables["逾期"][1:] == [
        ["卫健", "1", "0", "2026-10-31", "0", "0"],
        ["民政", "2", "1", "2026-11-01", "4", "2"],
    ]
    assert tables["叫号等候·按类别"][2] == ["综合窗口(A)", "11", "2", "11", "5.27", "9.00"]
    assert tables["叫号等候·按日"][1:] == [
        ["2026-11-02", "1", "1", "1", "3.00", "3.00"],
        ["2026-11-03", "10", "1", "10", "5.50", "9.00"],
        ["2026-11-04", "3", "0", "2", "3.00", "4.00"],
    ]
    assert "王秀英" not in text
    assert resident_id_number() not in text


def test_a_period_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Period(dt.date(2026, 11, 4), dt.date(2026, 11, 2))


async def test_sqlite_refuses_a_zone_whose_offset_changes_in_the_period(sqlite_url: str) -> None:
    await asyncio.get_running_loop().run_in_executor(None, migrate.upgrade, sqlite_url)
    database = Database(sqlite_url)
    try:
        summer_ends = Period(dt.date(2026, 10, 24), dt.date(2026, 10, 26), ZoneInfo("Europe/Berlin"))
        with pytest.raises(ValueError, match="UTC offset changes"):
            await statistics.filed_cases(database, summer_ends)
    finally:
        await database.dispose()
