"""Staff console figures: the statistics page's report over a busy year of data, on SQLite and PostgreSQL side by side
(the same rows in both), and what one sign-in costs (argon2 verification, deliberately slow)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics as stats
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from backend import migrate
from backend.case_status import CaseStatus
from backend.catalog.loader import default_catalog
from backend.db import Database
from backend.models import Case, Channel, QueueTicket, Resident, TicketCategory, TicketStatus
from backend.services import statistics
from backend.services.passwords import hash_password
from backend.services.passwords import matches as password_matches
from harness.databases import temporary_postgres_database
from harness.ids import resident_id_number

CASES = 20_000
TICKETS = 30_000
DAYS = 365
REPEATS = 5
TODAY = dt.date(2026, 11, 26)


def _id_number(n: int) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=n // 1000)
    return resident_id_number(born=born.strftime("%Y%m%d"), seq=f"{n % 1000:03d}")


def _rows(seed: int = 7) -> tuple[list[dict], list[dict], list[dict]]:
    """Residents, cases and queue tickets spread over the last year (the same for every database)."""
    rng = random.Random(seed)
    items = default_catalog().items
    residents = [
        {"id": n + 1, "id_number": _id_number(n), "name": "居民", "phone": None, "community": None}
        for n in range(CASES // 4)
    ]
    cases, tickets = [], []
    statuses = list(CaseStatus)
    for n in range(CASES):
        item = rng.choice(items)
        created = dt.datetime.combine(TODAY - dt.timedelta(days=rng.randrange(DAYS)), dt.time(1), dt.UTC)
        created += dt.timedelta(minutes=rng.randrange(9 * 60))
        status = rng.choice(statuses)
        accepted = created + dt.timedelta(minutes=rng.randrange(120)) if status is not CaseStatus.SUBMITTED else None
        done = status in (CaseStatus.COMPLETED, CaseStatus.HANDED_OUT, CaseStatus.DELIVERED)
        completed = accepted + dt.timedelta(hours=rng.randrange(1, 24 * 15)) if done and accepted else None
        cases.append(
            {
                "case_number": f"JJ-B{n:07d}",
                "item_id": item.id,
                "department": item.department.value,
                "resident_id": rng.randrange(len(residents)) + 1,
                "channel": rng.choice(list(Channel)),
                "status": status,
                "immediate": item.immediate,
                "working_days": 0 if item.immediate else 10,
                "deadline": None if item.immediate else created.date() + dt.timedelta(days=14),
                "created_at": created,
                "updated_at": created,
                "accepted_at": accepted,
                "completed_at": completed,
            }
        )
    for n in range(TICKETS):
        day = TODAY - dt.timedelta(days=rng.randrange(DAYS))
        taken = dt.datetime.combine(day, dt.time(1), dt.UTC) + dt.timedelta(minutes=rng.randrange(480))
        called = taken + dt.timedelta(minutes=rng.randrange(1, 60))
        tickets.append(
            {
                "service_day": day,
                "category": rng.choice(list(TicketCategory)),
                "seq": n + 1,
                "number": f"B{n:06d}"[:8],
                "channel": Channel.COUNTER,
                "status": rng.choice([TicketStatus.SERVED, TicketStatus.SKIPPED]),
                "created_at": taken,
                "called_at": called,
            }
        )
    return residents, cases, tickets


async def _time_report(url: str, rows: tuple[list[dict], list[dict], list[dict]]) -> list[float]:
    migrate.upgrade(url)
    db = Database(url)
    try:
        residents, cases, tickets = rows
        async with db.write() as session:
            await session.execute(insert(Resident), residents)
            await session.execute(insert(Case), cases)
            await session.execute(insert(QueueTicket), tickets)
        period = statistics.Period(TODAY - dt.timedelta(days=DAYS - 1), TODAY)
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            await statistics.report(db, period, today=TODAY)
            times.append(time.perf_counter() - started)
        return times
    finally:
        await db.dispose()


def _sign_in_ms() -> float:
    stored = hash_password("a password of some length")
    times = []
    for _ in range(10):
        started = time.perf_counter()
        password_matches(stored, "a password of some length")
        times.append(time.perf_counter() - started)
    return stats.median(times) * 1000


def run() -> str:
    rows = _rows()
    with tempfile.TemporaryDirectory() as folder:
        sqlite = asyncio.run(_time_report(f"sqlite:///{Path(folder) / 'bench.db'}", rows))
    with temporary_postgres_database() as url:
        postgres = asyncio.run(_time_report(url, rows))
    lite, pg = stats.median(sqlite), stats.median(postgres)
    return "\n".join(
        [
            f"staff console (statistics over {CASES:,} cases and {TICKETS:,} queue tickets in one year)",
            f"statistics page  a year's report: SQLite p50 {lite * 1000:.0f} ms, PostgreSQL p50 {pg * 1000:.0f} ms "
            f"(PostgreSQL / SQLite {pg / lite:.2f}; {REPEATS} runs each, all in SQL)",
            f"sign-in          {_sign_in_ms():.0f} ms of argon2 verification per sign-in (the cost guessing pays)",
        ]
    )
