"""The queue over the API: numbering, priority with a fairness cap, recall / skip, and concurrent takers."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.schema import Catalog
from backend.db import violates_unique
from backend.models import Channel, QueueTicket, TicketCategory, TicketStatus
from backend.services import queue as queue_service
from backend.services.queue import NewTicket
from tests.conftest import Api, Response, make_app, running

TICKETS = "/api/v1/queue/tickets"


async def take(api: Api, category: str = "A", channel: str = "counter") -> dict:
    response = await api.post("/api/v1/queue/tickets", json={"category": category, "channel": channel})
    assert response.status == 201, response.json
    return response.json


async def call(api: Api, window: int = 1) -> str | None:
    response = await api.post(f"/api/v1/queue/windows/{window}/call-next")
    if response.status == 404:
        assert response.json["error"]["code"] == "queue_empty"
        return None
    assert response.status == 200, response.json
    return response.json["number"]


async def test_numbers_and_people_ahead(api: Api) -> None:
    first, second = await take(api), await take(api)
    assert (first["number"], first["ahead"]) == ("A001", 0)
    assert (second["number"], second["ahead"]) == ("A002", 1)
    priority = await take(api, "V", "wechat")
    assert (priority["number"], priority["ahead"]) == ("V001", 0)
    third = await take(api)
    assert third["ahead"] == 3  # two A before it, and the V ticket is served first
    follow = await api.get("/api/v1/queue/tickets/a003")
    assert follow.status == 200 and follow.json["ahead"] == 3


async def test_counter_tickets_are_spooled_for_the_ticket_printer(api: Api) -> None:
    await take(api, channel="counter")
    await take(api, channel="wechat")
    jobs = (await api.get("/api/v1/print-jobs", params={"printer": "ticket"})).json
    assert len(jobs) == 1 and jobs[0]["kind"] == "ticket" and jobs[0]["document"]["number"] == "A001"


async def test_priority_first_but_general_never_starves(api: Api) -> None:
    for _ in range(3):
        await take(api, "A")
    for _ in range(6):
        await take(api, "V")
    order = [await call(api, 1) for _ in range(9)]
    # Cap 3: V V V A V V V A A — every fourth call goes to A while A waits.
    assert order == ["V001", "V002", "V003", "A001", "V004", "V005", "V006", "A002", "A003"]
    assert await call(api, 1) is None


async def test_recall_skip_and_status(api: Api) -> None:
    await take(api)
    await take(api)
    assert (await api.post("/api/v1/queue/windows/2/recall")).status == 404
    assert await call(api, 2) == "A001"
    recalled = await api.post("/api/v1/queue/windows/2/recall")
    assert recalled.json["number"] == "A001" and recalled.json["recalls"] == 1
    skipped = await api.post("/api/v1/queue/windows/2/skip")
    assert skipped.json["status"] == "skipped"
    assert await call(api, 3) == "A002"
    status = (await api.get("/api/v1/queue/status")).json
    assert status["waiting"] == {"A": 0, "V": 0}
    assert {w["window"]: w["number"] for w in status["windows"]}[3] == "A002"
    assert (await api.post("/api/v1/queue/windows/99/call-next")).json["error"]["code"] == "unknown_window"
    assert (await api.post("/api/v1/queue/windows/0/call-next")).status == 404


async def test_calling_next_closes_the_current_ticket(api: Api) -> None:
    await take(api)
    await take(api)
    await call(api, 1)
    await call(api, 1)
    first = (await api.get("/api/v1/queue/tickets/A001")).json
    assert first["status"] == "served"


async def test_fifty_concurrent_takers_get_fifty_different_numbers(api: Api) -> None:
    responses = await asyncio.gather(
        *[api.post("/api/v1/queue/tickets", json={"category": "A", "channel": "wechat"}) for _ in range(50)]
    )
    assert all(r.status == 201 for r in responses), [r.json for r in responses if r.status != 201][:3]
    numbers = sorted(r.json["number"] for r in responses)
    assert numbers == [f"A{n:03d}" for n in range(1, 51)]


async def test_concurrent_windows_never_call_the_same_ticket(api: Api) -> None:
    for _ in range(20):
        await take(api, channel="wechat")
    called = await asyncio.gather(*[call(api, 1 + n % 6) for n in range(24)])
    numbers = [n for n in called if n]
    assert sorted(numbers) == [f"A{n:03d}" for n in range(1, 21)]


async def test_numbering_survives_a_restart_and_restarts_each_day(database_url: str, catalog: Catalog) -> None:
    async with running(make_app(database_url, catalog)) as first:
        first.set_today(dt.date(2026, 11, 26))
        assert [(await take(first))["number"] for _ in range(3)] == ["A001", "A002", "A003"]
    async with running(make_app(database_url, catalog)) as second:  # a new process on the same database
        second.set_today(dt.date(2026, 11, 26))
        assert (await take(second))["number"] == "A004"
        assert (await second.get("/api/v1/queue/status")).json["waiting"]["A"] == 4
        second.set_today(dt.date(2026, 11, 27))
        assert (await take(second))["number"] == "A001"


async def take_with_key(api: Api, key: str) -> Response:
    return await api.post(TICKETS, json={"category": "A", "channel": "wechat"}, headers={"Idempotency-Key": key})


async def tickets_per_key(api: Api) -> dict[str | None, int]:
    """How many ticket rows each Idempotency-Key has (None: taken without a key)."""
    async with api.app.ctx.db.read() as session:
        rows = await session.execute(
            select(QueueTicket.idempotency_key, func.count(QueueTicket.id)).group_by(QueueTicket.idempotency_key)
        )
        return {key: int(count) for key, count in rows.all()}


async def test_a_replay_answers_200_with_the_same_ticket_and_another_key_takes_a_new_one(api: Api) -> None:
    first, again = await take_with_key(api, "wx-take-1"), await take_with_key(api, "wx-take-1")
    assert (first.status, again.status) == (201, 200), (first.json, again.json)
    assert again.json == first.json and first.json["number"] == "A001"
    other = await take_with_key(api, "wx-take-2")
    assert other.status == 201 and other.json["number"] == "A002"
    assert await tickets_per_key(api) == {"wx-take-1": 1, "wx-take-2": 1}


async def test_a_key_reused_for_another_kind_of_ticket_is_refused(api: Api) -> None:
    assert (await take_with_key(api, "wx-take-3")).status == 201
    other = await api.post(
        TICKETS, json={"category": "V", "channel": "wechat"}, headers={"Idempotency-Key": "wx-take-3"}
    )
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    assert await tickets_per_key(api) == {"wx-take-3": 1}


async def test_two_concurrent_takes_with_one_key_take_one_ticket(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The action server retries while its first attempt still runs in the backend. On PostgreSQL the hook holds
    each request after its key look-up until both have looked, so both miss and the second insert hits the unique
    key; on SQLite writes queue one after the other (BEGIN IMMEDIATE), so there the second finds the first ticket."""
    racing = api.app.ctx.db.engine.dialect.name == "postgresql"
    look_up = queue_service._ticket_for_key
    missed, both_looked = 0, asyncio.Event()

    async def look_up_then_wait(session: AsyncSession, key: str, request: NewTicket) -> QueueTicket | None:
        nonlocal missed
        found = await look_up(session, key, request)
        if found is None:
            missed += 1
            if missed == 2:
                both_looked.set()
            if racing:
                await asyncio.wait_for(both_looked.wait(), 10)
        return found

    monkeypatch.setattr(queue_service, "_ticket_for_key", look_up_then_wait)
    responses = await asyncio.gather(
        take_with_key(api, "retry-while-running"), take_with_key(api, "retry-while-running")
    )
    assert sorted(r.status for r in responses) == [200, 201], [r.json for r in responses]
    assert responses[0].json["id"] == responses[1].json["id"] and responses[0].json["number"] == "A001"
    assert missed == (2 if racing else 1)  # on PostgreSQL the race really happened
    assert await tickets_per_key(api) == {"retry-while-running": 1}
    assert (await take(api))["number"] == "A002"  # the losing insert's number was rolled back with it


async def test_a_key_committed_between_look_up_and_insert_answers_with_that_ticket(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race, forced on both databases: the look-up misses a ticket that another request with the key
    committed just after it looked, so the insert hits the unique key."""
    first = await take_with_key(api, "late-commit")
    look_up = queue_service._ticket_for_key
    stale = [None]

    async def stale_once(session: AsyncSession, key: str, request: NewTicket) -> QueueTicket | None:
        return stale.pop() if stale else await look_up(session, key, request)

    monkeypatch.setattr(queue_service, "_ticket_for_key", stale_once)
    again = await take_with_key(api, "late-commit")
    assert not stale  # the stale look-up was used
    assert again.status == 200, again.json
    assert again.json["id"] == first.json["id"] and again.json["number"] == "A001"
    assert await tickets_per_key(api) == {"late-commit": 1}
    assert (await take(api))["number"] == "A002"


async def test_another_integrity_error_is_not_taken_for_a_replay(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the Idempotency-Key's unique constraint means "taken already": a number issued twice is an error."""
    await take_with_key(api, "k-1")

    async def number_one_again(_session: AsyncSession, _name: str) -> int:
        return 1

    monkeypatch.setattr(queue_service, "next_value", number_one_again)
    broken = await take_with_key(api, "k-2")
    assert broken.status == 500 and broken.json["error"]["code"] == "internal_error"
    assert await tickets_per_key(api) == {"k-1": 1}

    async def insert_error(seq: int, key: str) -> IntegrityError:
        with pytest.raises(IntegrityError) as raised:
            async with api.app.ctx.db.write() as session:
                day = (await session.execute(select(QueueTicket.service_day))).scalar_one()
                session.add(
                    QueueTicket(
                        service_day=day,
                        category=TicketCategory.GENERAL,
                        seq=seq,
                        number=f"A{seq:03d}",
                        channel=Channel.WECHAT,
                        status=TicketStatus.WAITING,
                        idempotency_key=key,
                    )
                )
        return raised.value

    key_column = QueueTicket.__table__.c.idempotency_key
    assert violates_unique(await insert_error(99, "k-1"), key_column)
    assert not violates_unique(await insert_error(1, "k-3"), key_column)
