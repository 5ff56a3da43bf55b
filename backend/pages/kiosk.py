"""The voice counter's screen at ``GET /kiosk``: what jiujin heard and answered, in large type, with large buttons.

Only a provisioned counter may use it (`backend.services.counter_devices`): the screen opens the URL
``bin/jiujin kiosk url NAME`` prints (``/kiosk#key=…``; the fragment never reaches a server or its logs) and sends the
credential as the ``X-Counter-Key`` header on every call; the microphone side (`voice.live` through
`voice.kiosk_client`) sends the same header. Without it the page only says to ask the staff, and the API answers 401.

A counter has two sides sharing its current resident session (`backend.services.resident_sessions`): the screen,
which sends what the resident taps or types, and the microphone, which sends what it recognised with its
confidence. Both post to ``POST /kiosk/api/turn``; the backend runs the counter's own logic (`voice.counter`: confirm
when unsure, help after two failures, 重复, 办完了) in front of the dialogue, which it reaches over Rasa's REST channel
at ``RASA_URL``. ``GET /kiosk/api/events`` streams the counter's events to both sides: each ``turn`` (so the screen
shows what was said into the microphone and the microphone side speaks what was tapped) and ``ended`` when a
resident's session ends (the screen returns to the start). The stream is read with ``fetch()``, since EventSource
cannot send a header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as json_module
import logging
from pathlib import Path

from sanic import Blueprint, Request, html, json

from backend.api.common import parse_body
from backend.api.schemas import KioskTurnIn
from backend.errors import ApiError, conflict, invalid
from backend.services import counter_devices, resident_sessions
from backend.services.resident_sessions import Station, Stations
from voice.counter import Counter

log = logging.getLogger(__name__)

kiosk = Blueprint("kiosk")
PAGE = (Path(__file__).parent / "kiosk.html").read_text(encoding="utf-8")
KEEPALIVE_S = 15
RECHECK_S = 15
"""A stream checks this often that its counter's credential is still valid (a revoked counter is cut off)."""
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'",
}


def _stations(request: Request) -> Stations:
    ctx = request.app.ctx
    if not hasattr(ctx, "kiosk_stations"):
        ctx.kiosk_stations = Stations()
    return ctx.kiosk_stations


def _secret(request: Request) -> bytes:
    ctx = request.app.ctx
    if not hasattr(ctx, "counters_secret"):
        ctx.counters_secret = counter_devices.server_secret()
    return ctx.counters_secret


async def _counter(request: Request) -> str:
    """The name of the counter whose credential the request carries; 401 otherwise."""
    presented = request.headers.get(counter_devices.HEADER)
    name = await counter_devices.authenticate(request.app.ctx.db, _secret(request), presented)
    if name is None:
        log.warning("kiosk: refused a request without a valid counter credential (%s)", request.path)
        raise ApiError(401, "counter_not_authorised", "这台服务台还没有开通，请找工作人员。")
    return name


def _limits(request: Request) -> tuple[float, float]:
    settings = request.app.ctx.settings
    return settings.kiosk_idle_s, settings.kiosk_served_s


@kiosk.get("/kiosk")
async def page(request: Request):
    """The screen. The same page for everyone: without a credential in its fragment it shows only 请找工作人员."""
    return html(PAGE, headers=PAGE_HEADERS)


@kiosk.post("/kiosk/api/turn")
async def turn(request: Request):
    """One turn of the counter's current resident (a new session when none is open). ``session``, when given, must
    be that open session: a screen still showing a resident whose session ended gets 409 and starts afresh."""
    name = await _counter(request)
    body = parse_body(request, KioskTurnIn)
    station = _stations(request).get(name)
    try:
        async with station.lock:
            station.expire(*_limits(request))
            if body.session is not None and (station.current is None or body.session != station.current.id):
                raise conflict("session_ended", "上一位居民的服务已经结束，请重新开始。", field="session")
            resident = station.open()
            counter = Counter(request.app.ctx.settings.rasa_url, session=resident.counter)
            result = await asyncio.to_thread(counter.hear, body.text, body.confidence)
            record = station.record_turn(resident, result, body.source)
            if result.finished:
                station.end("done", farewell=record["replies"])
    finally:
        await station.notify()
        await resident_sessions.record_ended(request.app.ctx.db, station)
    return json(record, headers={"Cache-Control": "no-store"})


@kiosk.get("/kiosk/api/events")
async def events(request: Request):
    """A ``text/event-stream`` of the counter's events (``turn``, ``ended``). A new client first gets the open
    session's latest turn as a ``snapshot`` (a reloaded screen shows where the resident is); one resuming with
    ``Last-Event-ID`` gets every event it missed of the open session (after the ``ended`` of the one before)."""
    name = await _counter(request)
    station = _stations(request).get(name)
    raw = request.headers.get("last-event-id")
    if raw is not None and not raw.isdigit():
        raise invalid("bad_event_id", "Last-Event-ID 应为数字。", field="Last-Event-ID")
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nginx passes each event on at once
    stream = await request.respond(content_type="text/event-stream", headers=headers)
    await stream.send(": connected\n\n")  # the status goes out now, not with the first event
    await _expire(request, station)
    if raw is None:
        seen = station.seq
        if (snapshot := station.snapshot()) is not None:
            await stream.send(_sse(snapshot, "snapshot"))
    else:
        seen = int(raw)
    loop = asyncio.get_running_loop()
    quiet_since = checked_at = loop.time()
    while True:
        for event in station.after(seen):
            await stream.send(_sse(event, event["kind"]))
            seen = event["seq"]
            quiet_since = loop.time()
        if loop.time() - quiet_since > KEEPALIVE_S:
            await stream.send(": keep-alive\n\n")  # proxies close silent connections
            quiet_since = loop.time()
        if loop.time() - checked_at > RECHECK_S:
            checked_at = loop.time()
            if (
                await counter_devices.authenticate(
                    request.app.ctx.db, _secret(request), request.headers.get(counter_devices.HEADER)
                )
                is None
            ):
                await _revoked(request, station)
                for event in station.after(seen):  # the screen wipes the resident's turns before it is cut off
                    await stream.send(_sse(event, event["kind"]))
                return
        left = station.seconds_left(*_limits(request))
        wait = KEEPALIVE_S if left is None else min(KEEPALIVE_S, left + 0.05)
        async with station.changed:  # checked under the condition, so an event added now cannot be missed
            if not station.after(seen):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(station.changed.wait(), wait)
        await _expire(request, station)


async def _expire(request: Request, station: Station) -> None:
    """End the counter's session when it is due (unless a turn is running: it checks for itself)."""
    if station.lock.locked() or station.due(*_limits(request)) is None:
        return
    async with station.lock:
        ended = station.expire(*_limits(request))
    if ended:
        await station.notify()
        await resident_sessions.record_ended(request.app.ctx.db, station)


async def _revoked(request: Request, station: Station) -> None:
    async with station.lock:
        station.end("revoked")
    await station.notify()
    await resident_sessions.record_ended(request.app.ctx.db, station)


def _sse(event: dict, kind: str) -> str:
    return f"id: {event['seq']}\nevent: {kind}\ndata: {json_module.dumps(event, ensure_ascii=False)}\n\n"
