"""action_follow_ticket against the real backend: a WeChat follower who scanned a printed ticket's QR code is linked to
it and told where it stands; a called, finished, another day's or unknown ticket, one someone else follows, or a
scene the backend did not sign gets a polite word instead."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.clients.backend import BackendClient, use_backend
from actions.config import ActionSettings
from actions.queue import ActionFollowTicket
from backend.models import QueueTicket
from harness.processes import free_port
from tests.actions.conftest import responses, tracker
from tests.conftest import Api
from vocabulary.scenes import ticket_in_scene, ticket_scene
from vocabulary.tickets import NEAR_AHEAD

DAY = dt.date(2026, 11, 27)
OPENID = "oScanner_0123456789abcdefghijk"
OTHER = "oSomeoneElse_0123456789abcdefg"
_backend: list[Api] = []
"""The backend of the running test, whose follow secret signs the scenes (set by the ``signing`` fixture)."""


@pytest.fixture(autouse=True)
def signing(backend_api: Api) -> Iterator[None]:
    _backend.append(backend_api)
    yield
    _backend.clear()


def scanned(
    number: str, day: dt.date = DAY, *, channel: str = "wechat", sender: str = OPENID, value: str | None = None
) -> Tracker:
    """The tracker of ``/follow_ticket{"ticket": "<day>_<number>_<signature>"}`` (the code's scene as the backend
    signed it, unless ``value`` says otherwise) from the follower (or another channel)."""
    if value is None:
        value = ticket_in_scene(ticket_scene(_backend[0].app.ctx.follow_secret, day, number))
    text = f'/follow_ticket{{"ticket": "{value}"}}'
    user = {"event": "user", "text": text, "input_channel": channel}
    entities = [{"entity": "ticket", "value": value}]
    return tracker(text=text, intent="follow_ticket", entities=entities, events=[user], sender=sender)


async def follow(number: str, day: dt.date = DAY, **kwargs: Any) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    assert await ActionFollowTicket().run(dispatcher, scanned(number, day, **kwargs), {}) == []
    return dispatcher


async def take(api: Api, count: int) -> list[str]:
    body = {"category": "A", "channel": "counter"}
    return [(await api.post("/api/v1/queue/tickets", json=body)).json["number"] for _ in range(count)]


async def follower_of(api: Api, number: str) -> str | None:
    async with api.app.ctx.db.read() as session:
        return (await session.execute(select(QueueTicket.wechat_openid).where(QueueTicket.number == number))).scalar()


async def test_a_scanned_ticket_is_followed_with_its_place_and_a_promised_reminder(backend_api: Api) -> None:
    backend_api.set_today(DAY)
    *_, number = await take(backend_api, 5)
    said = await follow(number)
    assert responses(said) == ["utter_ticket_followed"]
    assert {k: said.messages[0][k] for k in ("number", "ahead", "wait")} == {"number": number, "ahead": 4, "wait": 4}
    assert await follower_of(backend_api, number) == OPENID


async def test_a_ticket_about_to_be_called_promises_no_reminder(backend_api: Api) -> None:
    backend_api.set_today(DAY)
    _first, second, *_ = await take(backend_api, 4)
    said = await follow(second)
    assert responses(said) == ["utter_ticket_followed_soon"] and said.messages[0]["ahead"] == 1 < NEAR_AHEAD
    assert said.messages[0]["wait"] >= 1  # never "0 分钟"


async def test_called_finished_and_other_days_tickets(backend_api: Api) -> None:
    backend_api.set_today(DAY)
    first, _second, third = await take(backend_api, 3)
    await backend_api.post("/api/v1/queue/windows/2/call-next")
    called = await follow(first)
    assert responses(called) == ["utter_ticket_follow_called"] and called.messages[0]["window"] == 2
    await backend_api.post("/api/v1/queue/windows/2/call-next")  # the first is served now
    assert responses(await follow(first)) == ["utter_ticket_follow_finished"]
    assert responses(await follow("A099")) == ["utter_ticket_follow_expired"]  # never issued
    assert responses(await follow(third, DAY - dt.timedelta(days=1))) == ["utter_ticket_follow_expired"]
    backend_api.set_today(DAY + dt.timedelta(days=1))
    assert responses(await follow(third)) == ["utter_ticket_follow_expired"]  # yesterday's, never called
    assert await follower_of(backend_api, first) is None and await follower_of(backend_api, third) is None


async def test_someone_elses_ticket_or_a_made_up_code_is_refused_politely(backend_api: Api) -> None:
    backend_api.set_today(DAY)
    first, second = await take(backend_api, 2)
    assert responses(await follow(first)) == ["utter_ticket_followed_soon"]
    taken = await follow(first, sender=OTHER)
    assert responses(taken) == ["utter_ticket_follow_taken"] and taken.messages[0]["number"] == first
    made_up = await follow(second, value=f"{DAY:%Y%m%d}_{second}_{'a' * 32}")
    assert responses(made_up) == ["utter_ticket_follow_invalid"]
    assert await follower_of(backend_api, first) == OPENID and await follower_of(backend_api, second) is None


async def test_outside_wechat_or_without_the_backend(backend_api: Api) -> None:
    backend_api.set_today(DAY)
    (number,) = await take(backend_api, 1)
    assert responses(await follow(number, channel="rest")) == ["utter_ticket_follow_wechat_only"]
    assert await follower_of(backend_api, number) is None
    down = BackendClient(ActionSettings(backend_url=f"http://127.0.0.1:{free_port()}", timeout_s=1.0))
    use_backend(down)
    try:
        assert responses(await follow(number)) == ["utter_backend_unavailable"]
    finally:
        await down.aclose()
