"""The backend's side of the voice counters, for the counter service: ``POST /api/v1/counters/authenticate`` says
whose credential a screen or a microphone presented (an active counter's, in its current generation, or nobody's),
and ``POST /api/v1/counters/{name}/sessions`` records a resident's session that ended. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from backend.models import ResidentSession
from backend.services import counter_devices
from tests.conftest import Api

AUTHENTICATE = "/api/v1/counters/authenticate"


async def test_a_credential_names_its_active_counter_and_nothing_else(api: Api) -> None:
    db, secret = api.app.ctx.db, counter_devices.server_secret()
    key, _ = await counter_devices.add(db, secret, "desk-1", actor="test")
    other, _ = await counter_devices.add(db, secret, "desk-2", actor="test")
    answer = await api.post(AUTHENTICATE, json={"key": key}, service="devices")
    assert answer.status == 200 and answer.json == {"counter": "desk-1"}
    assert (await api.post(AUTHENTICATE, json={"key": other}, service="devices")).json == {"counter": "desk-2"}
    name, mac = key.split(".", 1)
    for forged in (f"desk-2.{mac}", f"{name}.{mac[:-1]}A", name, f"{name}.", "x" * 200, "Desk-1." + mac):
        refused = await api.post(AUTHENTICATE, json={"key": forged}, service="devices")
        assert refused.status == 403 and refused.json["error"]["code"] == "counter_not_authorised", forged
    assert (await api.post(AUTHENTICATE, json={"key": key}, service=None)).status == 401  # a service token first

    assert await counter_devices.revoke(db, "desk-1", actor="test")
    assert (await api.post(AUTHENTICATE, json={"key": key}, service="devices")).status == 403  # at once
    again, outcome = await counter_devices.add(db, secret, "desk-1", actor="test")
    assert outcome == "reactivated" and again != key
    assert (await api.post(AUTHENTICATE, json={"key": again}, service="devices")).json == {"counter": "desk-1"}
    assert (await api.post(AUTHENTICATE, json={"key": key}, service="devices")).status == 403  # the old one stays dead


async def test_an_ended_session_is_recorded_without_anything_said(api: Api) -> None:
    started = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    body = {"started_at": started.isoformat(), "reason": "served", "turns": 7}
    recorded = await api.post("/api/v1/counters/desk-1/sessions", json=body, service="devices")
    assert recorded.status == 201
    async with api.app.ctx.db.read() as session:
        rows = (await session.execute(select(ResidentSession))).scalars().all()
    assert [(r.counter, r.end_reason, r.turns) for r in rows] == [("desk-1", "served", 7)]
    stored = rows[0].started_at  # in UTC (SQLite gives it back without its zone)
    assert stored.replace(tzinfo=stored.tzinfo or dt.UTC) == started

    for wrong in (
        {**body, "reason": "bored"},
        {**body, "turns": -1},
        {**body, "started_at": "2026-12-07T09:30"},
        {**body, "said": "我想办居住证"},
    ):
        assert (await api.post("/api/v1/counters/desk-1/sessions", json=wrong, service="devices")).status == 422
    assert (await api.post("/api/v1/counters/Desk 1/sessions", json=body, service="devices")).status == 404
