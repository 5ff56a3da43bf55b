"""Queue numbers, taken as someone emptying the day's numbers from a chat window would: one sender holds at most one
waiting number and takes at most three a day, also when asking many times at once; the hall's number machine (the
devices token) and tools are not capped, and another resident is not affected."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from backend.models import QueueTicket
from backend.services.queue import RESIDENT_CAPS
from tests.conftest import Api

DAY = dt.date(2026, 11, 27)
GREEDY = "rest:someone-refreshing-the-chat"
NEIGHBOUR = "wechat:oNeighbour_0123456789abcdefg"


async def take(api: Api, sender: str | None, *, service: str = "actions", key: str | None = None):
    body = {"category": "A", "channel": "wechat"} | ({"sender": sender} if sender else {})
    headers = {"Idempotency-Key": key} if key else {}
    return await api.post("/api/v1/queue/tickets", json=body, service=service, headers=headers)


async def tickets(api: Api) -> int:
    async with api.app.ctx.db.read() as session:
        return int((await session.execute(select(func.count(QueueTicket.id)))).scalar_one())


async def test_one_waiting_number_at_a_time_and_three_a_day_for_one_sender(api: Api) -> None:
    api.set_today(DAY)
    assert (RESIDENT_CAPS.waiting, RESIDENT_CAPS.daily) == (1, 3)
    first = await take(api, GREEDY, key="greedy-1")
    assert first.status == 201
    second = await take(api, GREEDY)
    assert second.status == 429 and second.json["error"]["code"] == "ticket_waiting"
    assert second.json["error"]["details"] == {"number": first.json["number"]}
    assert f"您已经有一个号 {first.json['number']} 在排队了" in second.json["error"]["message"]
    replay = await take(api, GREEDY, key="greedy-1")  # a retry of the first request is not a second number
    assert replay.status == 200 and replay.json["number"] == first.json["number"]
    assert (await take(api, NEIGHBOUR)).status == 201  # another resident is not affected
    assert (await api.post("/api/v1/queue/windows/2/call-next")).status == 200  # the neighbour's turn: at window 2

    for _ in range(2):  # GREEDY's number is called at window 1: the next may be taken, up to three today
        assert (await api.post("/api/v1/queue/windows/1/call-next")).status == 200
        assert (await take(api, GREEDY)).status == 201
    assert (await api.post("/api/v1/queue/windows/1/call-next")).status == 200  # none of GREEDY's waits now
    fourth = await take(api, GREEDY)
    assert fourth.status == 429 and fourth.json["error"]["code"] == "ticket_daily_limit"
    assert "今天已经取了 3 个号" in fourth.json["error"]["message"]
    assert await tickets(api) == 4  # three for GREEDY, one for NEIGHBOUR

    api.set_today(DAY + dt.timedelta(days=1))  # a new day
    assert (await take(api, GREEDY)).status == 201


async def test_asking_many_times_at_once_gets_one_number(api: Api) -> None:
    api.set_today(DAY)
    answers = await asyncio.gather(*(take(api, GREEDY) for _ in range(6)))
    assert sorted(a.status for a in answers) == [201, *[429] * 5]
    assert await tickets(api) == 1


async def test_the_number_machine_and_tools_are_not_capped(sqlite_api: Api) -> None:
    api = sqlite_api
    api.set_today(DAY)
    for service in ("devices", "tools"):
        for _ in range(4):  # the hall's machine serves everyone who presses its button
            assert (await take(api, None, service=service)).status == 201
        assert (await take(api, GREEDY, service=service)).status == 201  # a sender named by a trusted caller
    # Through the bot the cap counts every number of the sender, also those trusted callers took for them.
    refused = await take(api, GREEDY)
    assert refused.status == 429 and refused.json["error"]["code"] == "ticket_waiting"
