"""The voice counter's screen at ``GET /kiosk`` and its API: what jiujin heard and answered, in large type, with
large buttons.

Only a provisioned counter may use it: the screen opens the URL ``bin/jiujin kiosk url NAME`` prints
(``/kiosk#key=…``; the fragment never reaches a server or its logs) and sends the credential as the
``X-Counter-Key`` header on every call; the microphone side (`counter.microphone_side`) sends the same header. The
backend, which provisions counters, says whose credential it is (`counter.backend_api`). Without one the page only
says to ask the staff, and the API answers 401.

A counter has two sides sharing its current resident session (`counter.sessions`): the screen, which sends what
the resident taps or types, and the microphone, which sends what it recognised with its confidence. Both post to
``POST /kiosk/api/turn``, which runs the counter's own logic in front of the dialogue (`counter.dialogue`).
``GET /kiosk/api/events`` streams the counter's events to both sides: each ``turn`` (so the screen shows what was
said into the microphone and the microphone side speaks what was tapped) and ``ended`` when a resident's session
ends (the screen returns to the start). The stream is read with ``fetch()``, since EventSource cannot send a header.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as json_module
import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sanic import Blueprint, Request, html, json
from sanic.exceptions import BadRequest

from counter.backend_api import BackendApi, BackendUnavailable
from counter.dialogue import Counter
from counter.errors import CounterError
from counter.sessions import SESSION_ID, Station, Stations

log = logging.getLogger(__name__)

kiosk = Blueprint("kiosk")
PAGE = (Path(__file__).parent / "kiosk.html").read_text(encoding="utf-8")
KEY_HEADER = "X-Counter-Key"
"""The request header that carries a counter's credential (the screen reads it from its URL's fragment)."""
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
NOT_AUTHORISED = CounterError(401, "counter_not_authorised", "这台服务台还没有开通，请找工作人员。")
CANNOT_CHECK = CounterError(503, "backend_unavailable", "系统有点忙，请稍等一下再试，或者找工作人员。")


class TurnIn(BaseModel):
    """What a resident said at the voice counter (recognised by the microphone side) or tapped / typed there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session: Annotated[str, Field(pattern=SESSION_ID)] | None = None
    """The resident session the screen is showing (from the stream); it must be the counter's open one. None: the
    open session, or a new one (the microphone side, a screen at its start)."""
    text: Annotated[str, Field(max_length=200)]
    confidence: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    """1.0 for taps and typing; the recogniser's confidence for speech."""
    source: Literal["screen", "voice"] = "screen"
    """Where the turn came from: the screen (taps, typing) or the microphone; the other side shows or speaks it."""


async def _counter(request: Request) -> str:
    """The name of the counter whose credential the request carries; 401 otherwise (503: nobody can say)."""
    backend: BackendApi = request.app.ctx.backend
    try:
        name = await backend.counter_of(request.headers.get(KEY_HEADER))
    except BackendUnavailable as exc:
        log.error("kiosk: cannot check a counter's credential: %s", exc)
        raise CANNOT_CHECK from None
    if name is None:
        log.warning("kiosk: refused a request without a valid counter credential (%s)", request.path)
        raise NOT_AUTHORISED
    return name


def _stations(request: Request) -> Stations:
    return request.app.ctx.stations


def _limits(request: Request) -> tuple[float, float]:
    settings = request.app.ctx.settings
    return settings.idle_s, settings.served_s


def _turn_body(request: Request) -> TurnIn:
    """The JSON body: 400 for broken JSON, 422 for values that do not fit."""
    try:
        data = request.json
    except BadRequest:
        raise CounterError(400, "invalid_json", "请求内容不是有效的JSON。") from None
    try:
        return TurnIn.model_validate(data if data is not None else {})
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) or None
        raise CounterError(422, "invalid_value", "请求内容不符合要求。", field=where) from None


@kiosk.get("/kiosk")
async def page(request: Request):
    """The screen. The same page for everyone: without a credential in its fragment it shows only 请找工作人员."""
    return html(PAGE, headers=PAGE_HEADERS)


@kiosk.post("/kiosk/api/turn")
async def turn(request: Request):
    """One turn of the counter's current resident (a new session when none is open). ``session``, when given, must
    be that open session: a screen still showing a resident whose session ended gets 409 and starts afresh."""
    name = await _counter(request)
    body = _turn_body(request)
    station = _stations(request).get(name)
    try:
        async with station.lock:
            station.expire(*_limits(request))
            if body.session is not None and (station.current is None or body.session != station.current.id):
                raise CounterError(409, "session_ended", "上一位居民的服务已经结束，请重新开始。", field="session")
            resident = station.open()
            counter = Counter(request.app.ctx.settings.rasa_url, request.app.ctx.rasa_http, session=resident.counter)
            result = await counter.hear(body.text, body.confidence)
            record = station.record_turn(resident, result, body.source)
            if result.finished:
                station.end("done", farewell=record["replies"])
    finally:
        await station.notify()
        await _record_ended(request, station)
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
        raise CounterError(422, "bad_event_id", "Last-Event-ID 应为数字。", field="Last-Event-ID")
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
            if not await _still_valid(request):
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


async def _still_valid(request: Request) -> bool:
    """Whether the stream's credential still opens its counter (a backend that cannot say keeps the stream)."""
    backend: BackendApi = request.app.ctx.backend
    try:
        return await backend.counter_of(request.headers.get(KEY_HEADER)) is not None
    except BackendUnavailable as exc:
        log.warning("kiosk: could not recheck a stream's credential: %s", exc)
        return True


async def _expire(request: Request, station: Station) -> None:
    """End the counter's session when it is due (unless a turn is running: it checks for itself)."""
    if station.lock.locked() or station.due(*_limits(request)) is None:
        return
    async with station.lock:
        ended = station.expire(*_limits(request))
    if ended:
        await station.notify()
        await _record_ended(request, station)


async def _revoked(request: Request, station: Station) -> None:
    async with station.lock:
        station.end("revoked")
    await station.notify()
    await _record_ended(request, station)


async def _record_ended(request: Request, station: Station) -> None:
    """Hand the sessions that ended to the backend's record, in the background: a turn's answer never waits for it."""
    ended, station.finished = station.finished, []
    if ended:
        request.app.add_task(request.app.ctx.backend.record_ended(ended))


def _sse(event: dict, kind: str) -> str:
    return f"id: {event['seq']}\nevent: {kind}\ndata: {json_module.dumps(event, ensure_ascii=False)}\n\n"
