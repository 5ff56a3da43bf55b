"""The queue over the API: numbering, priority with a fairness cap, recall / skip, and concurrent takers."""

from __future__ import annotations

import asyncio
import datetime as dt

from backend.catalog.schema import Catalog
from tests.conftest import Api, make_app, running


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
    assert len(jobs) == 1 and jobs[0]["kind"] == "ticket" and jobs[0]["payload"]["number"] == "A001"


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


async def test_idempotent_ticket(api: Api) -> None:
    headers = {"Idempotency-Key": "wx-take-1"}
    a = await api.post("/api/v1/queue/tickets", json={"channel": "wechat"}, headers=headers)
    b = await api.post("/api/v1/queue/tickets", json={"channel": "wechat"}, headers=headers)
    assert a.json["number"] == b.json["number"] == "A001"
