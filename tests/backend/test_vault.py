"""The personal-data vault: channels deposit, actions read back, only their own conversation, only for a while."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from backend.models import VaultEntry
from backend.services import vault
from tests.conftest import ELDER_ID, YOUNG_ID, Api

PHONE = "13812345678"
NOON = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def at(api: Api, moment: dt.datetime) -> None:
    """Make the backend believe it is ``moment``."""
    api.app.ctx.clock = lambda: moment


async def deposit(api: Api, *values: str, sender: str = "o-resident-1", channel: str = "wechat", service="channels"):
    body = {"channel": channel, "sender": sender, "values": list(values)}
    return await api.post("/api/v1/vault/deposits", json=body, service=service)


async def lookup(api: Api, *masked: str, sender: str = "o-resident-1", channel: str = "wechat", service="actions"):
    body = {"channel": channel, "sender": sender, "masked": list(masked)}
    return await api.post("/api/v1/vault/lookups", json=body, service=service)


async def rows(api: Api) -> int:
    async with api.app.ctx.db.read() as session:
        return int((await session.execute(select(func.count()).select_from(VaultEntry))).scalar_one())


async def test_a_channel_deposits_and_the_actions_read_back(api: Api) -> None:
    at(api, NOON)
    deposited = await deposit(api, ELDER_ID, PHONE)
    assert deposited.status == 201, deposited.text
    assert deposited.json["masked"] == ["110105********002X", "138****5678"]
    assert dt.datetime.fromisoformat(deposited.json["expires_at"]) == NOON + vault.TTL

    found = await lookup(api, "110105********002X", "138****5678", "330106********1214")
    assert found.status == 200, found.text
    assert found.json == {"values": {"110105********002X": ELDER_ID, "138****5678": PHONE}}


async def test_only_the_depositing_conversation_reads_a_number(api: Api) -> None:
    at(api, NOON)
    await deposit(api, ELDER_ID, sender="o-resident-1", channel="wechat")
    masked = "110105********002X"
    assert (await lookup(api, masked, sender="o-resident-2")).json == {"values": {}}
    # The same sender id on another channel is another conversation (a REST caller naming a WeChat OpenID).
    assert (await lookup(api, masked, sender="o-resident-1", channel="rest")).json == {"values": {}}
    async with api.app.ctx.db.read() as session:
        stored = (await session.execute(select(VaultEntry))).scalars().all()
    assert [entry.conversation_hash for entry in stored] == [vault.conversation_hash("wechat", "o-resident-1")]
    assert all("o-resident-1" not in entry.conversation_hash for entry in stored)


async def test_channels_deposit_but_never_read(api: Api) -> None:
    at(api, NOON)
    assert (await deposit(api, ELDER_ID, service="channels")).status == 201
    refused = await lookup(api, "110105********002X", service="channels")
    assert refused.status == 403 and refused.json["error"]["code"] == "service_not_allowed"
    assert ELDER_ID not in refused.text
    assert (await lookup(api, "110105********002X", service="devices")).status == 403
    assert (await deposit(api, ELDER_ID, service="devices")).status == 403
    assert (await lookup(api, "110105********002X", service=None)).status == 401
    assert (await deposit(api, ELDER_ID, service=None)).status == 401


async def test_numbers_expire_and_are_purged(api: Api) -> None:
    at(api, NOON)
    await deposit(api, ELDER_ID, sender="early")
    at(api, NOON + vault.TTL - dt.timedelta(seconds=1))
    assert (await lookup(api, "110105********002X", sender="early")).json["values"] == {"110105********002X": ELDER_ID}
    at(api, NOON + vault.TTL)
    assert (await lookup(api, "110105********002X", sender="early")).json == {"values": {}}
    assert await rows(api) == 1  # expired, not yet deleted: the next deposit deletes it
    await deposit(api, PHONE, sender="later")
    assert await rows(api) == 1
    assert (await lookup(api, "138****5678", sender="later")).json["values"] == {"138****5678": PHONE}


async def test_a_second_deposit_replaces_and_renews(api: Api) -> None:
    at(api, NOON)
    other = YOUNG_ID[:6] + "19881212" + YOUNG_ID[-4:]  # another number with the same masked form
    await deposit(api, YOUNG_ID)
    at(api, NOON + dt.timedelta(hours=1))
    again = await deposit(api, other, other)  # the same number twice in one text is one entry
    assert again.json["masked"] == [again.json["masked"][0]] * 2
    at(api, NOON + vault.TTL + dt.timedelta(minutes=30))
    assert (await lookup(api, again.json["masked"][0])).json["values"] == {again.json["masked"][0]: other}
    assert await rows(api) == 1


async def test_bad_bodies_are_refused(api: Api) -> None:
    at(api, NOON)
    assert (await deposit(api, "12345")).status == 422  # too short to be masked
    assert (await deposit(api, "1381234567a")).status == 422
    assert (await deposit(api, *[PHONE] * 11)).status == 422
    assert (await deposit(api, PHONE, sender="")).status == 422
    assert (await deposit(api, PHONE, channel="We Chat")).status == 422
    assert (await lookup(api, ELDER_ID)).status == 422  # a number in clear is not a masked form
    assert (await lookup(api, "1381234*678")).status == 422
    assert (await api.post("/api/v1/vault/lookups", json={"channel": "", "sender": "x", "masked": []})).status == 422
    assert await rows(api) == 0
