"""Scans, tried as a stranger would: the follower link of a queue ticket takes only a scene the backend signed, and a
scan never takes a ticket away from the follower who has it.

The stranger reaches the link the way the bot does (the action server's token): by typing ``/follow_ticket{…}`` with
a guessed or altered ticket, or by scanning a ticket someone else holds. Ticket numbers are sequential, so guessing
one is easy: the signature is what a guess cannot supply.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select

from backend.models import AuditEntry, QueueTicket
from tests.conftest import Api
from vocabulary.masking import mask_text
from vocabulary.scenes import (
    SIGNATURE_ALPHABET,
    SIGNATURE_LENGTH,
    parse_ticket,
    ticket_in_scene,
    ticket_scene,
    ticket_signature,
)

DAY = dt.date(2026, 11, 27)
OWNER = "oOwnerOfTheTicket_0123456789ab"
STRANGER = "oStranger_0123456789abcdefghij"


async def take(api: Api, count: int) -> list[str]:
    """Numbers from the hall's number machine (the devices token), as residents take them."""
    numbers = []
    for _ in range(count):
        taken = await api.post("/api/v1/queue/tickets", json={"category": "A", "channel": "counter"}, service="devices")
        assert taken.status == 201, taken.json
        numbers.append(taken.json["number"])
    return numbers


async def link(api: Api, number: str, openid: str, signature: str, day: dt.date = DAY):
    """What the action server sends for a scan (or for a typed ``/follow_ticket``)."""
    body = {"wechat_openid": openid, "signature": signature}
    return await api.post(f"/api/v1/queue/tickets/{day.isoformat()}/{number}/follower", json=body, service="actions")


async def followers(api: Api) -> dict[str, str | None]:
    async with api.app.ctx.db.read() as session:
        return dict((await session.execute(select(QueueTicket.number, QueueTicket.wechat_openid))).all())


async def follow_entries(api: Api) -> list[str]:
    async with api.app.ctx.db.read() as session:
        audited = await session.execute(select(AuditEntry.action).where(AuditEntry.action == "queue.follow"))
        return list(audited.scalars())


async def test_forged_unsigned_and_altered_scenes_link_nothing(sqlite_api: Api) -> None:
    api = sqlite_api
    api.set_today(DAY)
    first, second, _third = await take(api, 3)
    secret = api.app.ctx.follow_secret
    genuine = ticket_signature(secret, DAY, second)
    forgeries = {
        "another ticket's signature": (first, genuine),
        "a made-up signature": (second, "".join(secrets.choice(SIGNATURE_ALPHABET) for _ in range(SIGNATURE_LENGTH))),
        "signed with another secret": (second, ticket_signature(b"a guessed secret", DAY, second)),
        "one letter changed": (second, genuine[:-1] + ("a" if genuine[-1] != "a" else "b")),
        "a shortened signature": (second, genuine[:16]),
    }
    for what, (number, signature) in forgeries.items():
        refused = await link(api, number, STRANGER, signature)
        assert refused.status == 403, what
        assert refused.json["error"]["code"] == "scene_invalid" and "二维码无效" in refused.json["error"]["message"]
    other_day = await link(api, second, STRANGER, genuine, DAY + dt.timedelta(days=1))  # the day altered
    assert other_day.status == 403
    for unsigned in ({"wechat_openid": STRANGER}, {"wechat_openid": STRANGER, "signature": "not-ours!"}):
        path = f"/api/v1/queue/tickets/{DAY.isoformat()}/{second}/follower"
        assert (await api.post(path, json=unsigned, service="actions")).status == 422
    assert set((await followers(api)).values()) == {None} and await follow_entries(api) == []


async def test_a_forged_scene_tells_nothing_about_which_numbers_exist(sqlite_api: Api) -> None:
    api = sqlite_api
    api.set_today(DAY)
    (issued,) = await take(api, 1)
    guess = "a" * SIGNATURE_LENGTH
    for_issued = await link(api, issued, STRANGER, guess)
    for_unissued = await link(api, "A777", STRANGER, guess)
    assert for_issued.status == for_unissued.status == 403 and for_issued.json == for_unissued.json


def test_the_typed_intent_without_a_signature_names_no_ticket() -> None:
    """The value a typed ``/follow_ticket{"ticket": "20261127_A012"}`` carries is not a ticket to the dialogue, and
    the old unsigned scene is not a ticket's scene to the WeChat channel."""
    assert parse_ticket("20261127_A012") is None and ticket_in_scene("ticket_20261127_A012") is None
    signed = ticket_scene(b"the server's secret", DAY, "A012")
    assert parse_ticket(ticket_in_scene(signed)).number == "A012"
    assert mask_text(signed) == signed  # nothing in a signature looks like a phone or ID number to the masking


async def test_a_second_scanner_does_not_take_over_and_the_reminder_stays_with_the_owner(api: Api) -> None:
    api.set_today(DAY)
    *_, number = await take(api, 6)
    signature = ticket_signature(api.app.ctx.follow_secret, DAY, number)
    assert (await link(api, number, OWNER, signature)).status == 200
    for _ in range(2):  # someone who picked up the ticket, or photographed it, scans it too
        taken = await link(api, number, STRANGER, signature)
        assert taken.status == 409 and taken.json["error"]["code"] == "ticket_followed"
        assert "已经有人关注" in taken.json["error"]["message"] and "ahead" not in taken.json
    assert (await followers(api))[number] == OWNER
    for _ in range(2):  # 5 ahead → 3 ahead: the reminder goes to the owner
        assert (await api.post("/api/v1/queue/windows/1/call-next")).status == 200
    notices = (await api.get("/api/v1/notifications", params={"subject": number})).json
    assert [(n["kind"], n["wechat_openid"]) for n in notices] == [("queue_near", "oOwn****")]


async def test_a_number_taken_on_wechat_belongs_to_its_taker(sqlite_api: Api) -> None:
    api = sqlite_api
    api.set_today(DAY)
    body = {"category": "A", "channel": "wechat", "wechat_openid": OWNER, "sender": f"wechat:{OWNER}"}
    number = (await api.post("/api/v1/queue/tickets", json=body, service="actions")).json["number"]
    signature = ticket_signature(api.app.ctx.follow_secret, DAY, number)
    assert (await link(api, number, STRANGER, signature)).status == 409
    assert (await followers(api))[number] == OWNER
