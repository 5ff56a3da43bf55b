"""The backend decides a ticket's category (the hall's rule, `vocabulary.tickets`): callers say what they know."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backend.models import AuditEntry, QueueTicket
from tests.conftest import Api, make_id

TICKETS = "/api/v1/queue/tickets"
DAY = dt.date(2026, 12, 7)
TURNS_70_TODAY = make_id("330106", "19561207", "121")
TURNS_70_TOMORROW = make_id("330106", "19561208", "121")


async def take(api: Api, key: str | None = None, **body: str) -> dict:
    headers = {"Idempotency-Key": key} if key else {}
    response = await api.post(TICKETS, json={"channel": "wechat", **body}, headers=headers)
    assert response.status in (200, 201), response.json
    return response.json


async def test_a_resident_of_seventy_gets_the_green_channel_from_their_birthday_on(api: Api) -> None:
    api.set_today(DAY)
    elder = await take(api, id_number=TURNS_70_TODAY)
    assert (elder["number"], elder["category"], elder["priority_reason"]) == ("V001", "V", "age")
    younger = await take(api, id_number=TURNS_70_TOMORROW)
    assert (younger["number"], younger["category"], younger["priority_reason"]) == ("A001", "A", None)


async def test_a_stated_reason_gives_the_green_channel_and_is_said_back(api: Api) -> None:
    api.set_today(DAY)
    pregnant = await take(api, id_number=TURNS_70_TOMORROW, priority_reason="孕妇")
    assert (pregnant["category"], pregnant["priority_reason"]) == ("V", "孕妇")
    elder = await take(api, id_number=TURNS_70_TODAY, priority_reason="绿色通道")
    assert (elder["category"], elder["priority_reason"]) == ("V", "age")  # nothing to show beyond the ID card


async def test_the_fixed_contract_still_takes_the_category_asked_for(api: Api) -> None:
    api.set_today(DAY)
    asked = await take(api, category="V", channel="counter")
    assert (asked["number"], asked["category"], asked["priority_reason"]) == ("V001", "V", None)
    general = await take(api, category="A", channel="counter")
    assert (general["number"], general["category"]) == ("A001", "A")
    elder = await take(api, category="A", id_number=TURNS_70_TODAY)
    assert elder["category"] == "V"  # the rule gives what is due even when the caller said A


async def test_a_replayed_request_answers_with_the_same_decision(api: Api) -> None:
    api.set_today(DAY)
    first = await take(api, "bot-ticket-1", id_number=TURNS_70_TODAY)
    again = await take(api, "bot-ticket-1", id_number=TURNS_70_TODAY)
    assert again == first and first["priority_reason"] == "age"


async def test_unknown_reasons_and_invalid_id_numbers_are_refused(api: Api) -> None:
    for body in (
        {"priority_reason": "VIP"},
        {"id_number": TURNS_70_TODAY[:-1] + "0"},
        {"id_number": "1101**********002X"},
    ):
        response = await api.post(TICKETS, json={"channel": "wechat", **body})
        assert response.status == 422, (body, response.json)


async def test_the_id_number_is_read_for_the_category_only(api: Api) -> None:
    api.set_today(DAY)
    await take(api, id_number=TURNS_70_TODAY)
    async with api.app.ctx.db.read() as session:
        tickets = [ticket.__dict__ for ticket in (await session.execute(select(QueueTicket))).scalars()]
        audit = [entry.__dict__ for entry in (await session.execute(select(AuditEntry))).scalars()]
    assert tickets and audit
    assert TURNS_70_TODAY not in repr(tickets) + repr(audit)
