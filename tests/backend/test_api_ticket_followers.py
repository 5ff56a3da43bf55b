"""Linking a WeChat follower to a queue ticket (who scanned its QR code, whose scene the backend signed): the ticket
with its place, the first scanner keeps it, audited with the OpenID masked; 404 for an unknown ticket, 409 for one of
another day, no longer waiting or followed by someone else; and the "3 people ahead" notice then goes to that
follower. Forged scenes: tests/security/test_scans.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from backend.catalog.schema import Catalog
from backend.models import AuditEntry, QueueTicket
from tests.conftest import Api, make_app, running
from vocabulary.scenes import ticket_signature

DAY = dt.date(2026, 11, 27)
FIRST, SECOND = "oFirstScanner_0123456789abcd", "oSecondScanner_0123456789abc"


@pytest.fixture
async def api(database_url: str, catalog: Catalog) -> AsyncIterator[Api]:
    """A backend on ``DAY`` whose notice sender is off (the notices stay in the database to be looked at)."""
    async with running(make_app(database_url, catalog, notifier_enabled=False)) as client:
        client.set_today(DAY)
        yield client


def follower_path(number: str, day: dt.date = DAY) -> str:
    return f"/api/v1/queue/tickets/{day.isoformat()}/{number}/follower"


def scanned(api: Api, openid: str, number: str, day: dt.date = DAY) -> dict[str, str]:
    """The body the action server sends for a scan of the ticket's code (its scene signed by this backend)."""
    return {"wechat_openid": openid, "signature": ticket_signature(api.app.ctx.follow_secret, day, number.upper())}


async def take(api: Api, count: int = 1) -> list[str]:
    numbers = []
    for _ in range(count):
        response = await api.post("/api/v1/queue/tickets", json={"category": "A", "channel": "counter"})
        assert response.status == 201, response.json
        numbers.append(response.json["number"])
    return numbers


async def stored_openid(api: Api, number: str) -> str | None:
    async with api.app.ctx.db.read() as session:
        ticket = (await session.execute(select(QueueTicket).where(QueueTicket.number == number))).scalar_one()
        return ticket.wechat_openid


async def test_a_scanner_follows_a_ticket_and_a_later_scanner_does_not_take_it_over(api: Api) -> None:
    *_, number = await take(api, 5)
    linked = await api.post(follower_path(number.lower()), json=scanned(api, FIRST, number))
    assert linked.status == 200, linked.json
    assert (linked.json["number"], linked.json["status"], linked.json["ahead"]) == (number, "waiting", 4)
    assert linked.json["estimated_wait_minutes"] == 4  # 4 ahead, 6 minutes each, shared by 6 windows
    assert linked.json["channel"] == "counter" and await stored_openid(api, number) == FIRST

    second = await api.post(follower_path(number), json=scanned(api, SECOND, number), headers={"X-Actor": "bot"})
    assert second.status == 409 and second.json["error"]["code"] == "ticket_followed"
    assert "已经有人关注" in second.json["error"]["message"] and await stored_openid(api, number) == FIRST
    again = await api.post(follower_path(number), json=scanned(api, FIRST, number))  # the follower scans again
    assert again.status == 200 and await stored_openid(api, number) == FIRST
    async with api.app.ctx.db.read() as session:
        audited = await session.execute(select(AuditEntry).where(AuditEntry.action.startswith("queue.follow")))
        entries = [(e.action, e.actor, e.entity_id, e.detail) for e in audited.scalars()]
    assert entries == [
        ("queue.follow", "tools", number, {"wechat_openid": "oFir****"}),
        ("queue.follow_refused", "tools:bot", number, {"wechat_openid": "oSec****"}),
    ]


async def test_unknown_tickets_are_404_in_chinese(api: Api) -> None:
    await take(api)
    earlier = DAY - dt.timedelta(days=3)
    for number, day in (("A099", DAY), ("A001", earlier), ("ZZ", DAY)):
        refused = await api.post(follower_path(number, day), json=scanned(api, FIRST, number, day))
        assert refused.status == 404 and refused.json["error"]["code"] == "unknown_ticket", number
        assert "没有找到" in refused.json["error"]["message"]
    assert (await api.post(follower_path("A001"), json=scanned(api, "not an openid!", "A001"))).status == 422
    assert (await api.post(follower_path("A001"), json={"wechat_openid": FIRST})).status == 422  # no signature
    assert (await api.post(follower_path("A001"), json={})).status == 422


async def test_a_ticket_no_longer_waiting_or_of_another_day_is_409(api: Api) -> None:
    first, _second, skipped, waiting = await take(api, 4)
    assert (await api.post("/api/v1/queue/windows/1/call-next")).json["number"] == first
    refused = await api.post(follower_path(first), json=scanned(api, FIRST, first))
    assert refused.status == 409 and refused.json["error"]["code"] == "ticket_not_waiting"
    assert refused.json["error"]["details"] == {"status": "called", "window": 1}
    await api.post("/api/v1/queue/windows/1/call-next")  # the first is served, the second called
    await api.post("/api/v1/queue/windows/2/call-next")
    await api.post("/api/v1/queue/windows/2/skip")  # the third did not come
    assert (await api.post(follower_path(first), json=scanned(api, FIRST, first))).json["error"]["details"] == {
        "status": "served",
        "window": 1,
    }
    gone = await api.post(follower_path(skipped), json=scanned(api, FIRST, skipped))
    assert gone.status == 409 and gone.json["error"]["details"]["status"] == "skipped"
    assert await stored_openid(api, first) is None and await stored_openid(api, skipped) is None

    api.set_today(DAY + dt.timedelta(days=1))  # yesterday's ticket, never called
    expired = await api.post(follower_path(waiting), json=scanned(api, FIRST, waiting))
    assert expired.status == 409 and expired.json["error"]["code"] == "ticket_expired"
    assert await stored_openid(api, waiting) is None


async def test_the_follower_is_told_when_three_people_are_ahead(api: Api) -> None:
    *_, number = await take(api, 6)
    assert (await api.post(follower_path(number), json=scanned(api, FIRST, number))).status == 200
    for _ in range(2):  # 5 ahead → 3 ahead
        assert (await api.post("/api/v1/queue/windows/1/call-next")).status == 200
    notices = (await api.get("/api/v1/notifications", params={"subject": number})).json
    assert [(n["kind"], n["wechat_openid"], n["status"]) for n in notices] == [("queue_near", "oFir****", "pending")]
    assert "前面还有 3 位" in notices[0]["text"]


async def test_the_route_is_in_the_openapi_document(api: Api) -> None:
    document = (await api.get("/api/v1/openapi.json")).json
    operation = document["paths"]["/api/v1/queue/tickets/{service_day}/{number}/follower"]["post"]
    assert set(operation["responses"]) >= {"200", "403", "404", "409", "422"}
    day = next(p for p in operation["parameters"] if p["name"] == "service_day")
    assert day["schema"] == {"type": "string", "format": "date"}
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TicketFollowerIn")
