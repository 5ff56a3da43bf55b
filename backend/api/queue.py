"""The queue: take a number, call next / recall / skip / transfer / pause at a window, follow a ticket (also on
WeChat, by its QR code), the board and its live event stream (server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json as json_module
import time

from sanic import Blueprint, HTTPResponse, Request, Sanic, json

from backend.api.common import actor, idempotency_key, parse_body, parse_query, today
from backend.api.openapi import operation
from backend.api.responses import ticket_out
from backend.api.schemas import (
    BoardOut,
    HallEventOut,
    QueueStatusOut,
    TicketCreate,
    TicketFollowerIn,
    TicketOut,
    TicketQuery,
    TransferIn,
    WindowOut,
    WindowStateOut,
)
from backend.errors import invalid, not_found
from backend.services import queue as service
from backend.services import ticket_followers
from backend.services.queue import Placed
from vocabulary.tickets import TICKET_NUMBER

queue = Blueprint("queue", url_prefix="/api/v1/queue")
EVENT_POLL_S = 0.2
"""How often the event stream looks for new hall events when not woken: the events are read from the database,
so changes made by another worker or replica arrive within this time; this worker's own changes wake it at once."""
KEEPALIVE_S = 15
CAPPED_SERVICE = "actions"
"""The caller whose numbers are residents' (`security.tokens`), capped per sender; the hall's number machine
(``devices``) and ``tools`` are trusted with as many as they ask for."""


def _hall_changed(app: Sanic) -> asyncio.Condition:
    """The condition this worker's event streams wait on (created on first use, in the worker's own loop)."""
    if not hasattr(app.ctx, "hall_changed"):
        app.ctx.hall_changed = asyncio.Condition()
    return app.ctx.hall_changed


@queue.on_response
async def wake_event_streams(request: Request, response: HTTPResponse) -> None:
    """A change went through (its hall event is committed): wake this worker's event streams."""
    if request.method == "POST" and response.status < 300:
        changed = _hall_changed(request.app)
        async with changed:
            changed.notify_all()


def _window(request: Request, window: int) -> int:
    if not 1 <= window <= request.app.ctx.settings.window_count:
        raise not_found("unknown_window", f"没有{window}号窗口。")
    return window


@queue.post("/tickets")
@operation(
    "取号",
    tag="queue",
    body=TicketCreate,
    responses={201: TicketOut, 200: TicketOut, 409: None, 429: None},
    headers=("Idempotency-Key", "X-Actor"),
)
async def take(request: Request):
    """Take the next number of the day; ``ahead`` is how many are expected to be served first. The category is
    ``category`` when it says V, else the hall's rule from the resident's ``id_number`` and stated
    ``priority_reason`` (the answer's ``category`` and ``priority_reason`` say what was decided). 201 when taken;
    200 with the same ticket when the Idempotency-Key was seen before; 409 when it was used for another kind of
    ticket. The action server taking a number for a resident (``sender``) is capped per sender: 429 with
    ``ticket_waiting`` (``details.number``: the number still waiting) or ``ticket_daily_limit``; the number machine
    (devices) and tools are not."""
    body = parse_body(request, TicketCreate)
    taken = await service.take_ticket(
        request.app.ctx.db,
        body.command(),
        actor=actor(request),
        today=today(request),
        idempotency_key=idempotency_key(request),
        window_count=request.app.ctx.settings.window_count,
        caps=service.RESIDENT_CAPS if getattr(request.ctx, "service", None) == CAPPED_SERVICE else None,
        links=request.app.ctx.follow_links,
    )
    answer = ticket_out(taken.placed).model_copy(update={"priority_reason": taken.priority_reason})
    return json(answer.model_dump(mode="json"), status=201 if taken.created else 200)


@queue.get("/tickets/<number:str>")
@operation("查询号码", tag="queue", query=TicketQuery, responses={200: TicketOut, 404: None})
async def follow(request: Request, number: str):
    """A ticket's status and how many are ahead."""
    query = parse_query(request, TicketQuery)
    placed = await service.find_ticket(
        request.app.ctx.db, number.upper(), query.day or today(request), request.app.ctx.settings.window_count
    )
    return json(ticket_out(placed).model_dump(mode="json"))


@queue.post("/tickets/<service_day:ymd>/<number:str>/follower")
@operation(
    "微信关注号码",
    tag="queue",
    body=TicketFollowerIn,
    responses={200: TicketOut, 403: None, 404: None, 409: None},
    headers=("X-Actor",),
)
async def link_follower(request: Request, service_day: dt.date, number: str):
    """The WeChat follower who scanned the ticket's QR code is told when three people are ahead; the scene's
    signature must be the backend's. 403 for a forged or altered scene; 404 for an unknown ticket; 409 for a ticket
    of another day, no longer waiting, or already followed by someone else (a scan never takes a ticket over)."""
    body = parse_body(request, TicketFollowerIn)
    number = number.upper()
    if not TICKET_NUMBER.fullmatch(number):
        raise not_found("unknown_ticket", f"没有找到{service_day:%m月%d日}的这个号码。")
    placed = await ticket_followers.link_follower(
        request.app.ctx.db,
        service_day,
        number,
        body.wechat_openid,
        signature=body.signature,
        scene_secret=request.app.ctx.follow_secret,
        actor=actor(request),
        today=today(request),
        window_count=request.app.ctx.settings.window_count,
    )
    return json(ticket_out(placed).model_dump(mode="json"))


@queue.post("/windows/<window:int>/call-next")
@operation("窗口叫下一个号", tag="queue", responses={200: TicketOut, 404: None}, headers=("Idempotency-Key", "X-Actor"))
async def call_next(request: Request, window: int):
    """Finish the window's current ticket and call the next (404 when nobody waits)."""
    ticket = await service.call_next(
        request.app.ctx.db,
        _window(request, window),
        actor=actor(request),
        today=today(request),
        priority_streak_cap=request.app.ctx.settings.priority_streak_cap,
        departments=request.app.ctx.settings.window_departments.get(window, ()),
        idempotency_key=idempotency_key(request),
    )
    return json(ticket_out(Placed(ticket, 0)).model_dump(mode="json"))


@queue.post("/windows/<window:int>/recall")
@operation("重呼当前号", tag="queue", responses={200: TicketOut, 404: None}, headers=("X-Actor",))
async def recall(request: Request, window: int):
    """Call the window's current number again; after QUEUE_MAX_RECALLS recalls it is a no-show (``skipped``)."""
    ticket = await service.recall(
        request.app.ctx.db,
        _window(request, window),
        actor=actor(request),
        today=today(request),
        max_recalls=request.app.ctx.settings.max_recalls,
    )
    return json(ticket_out(Placed(ticket, 0)).model_dump(mode="json"))


@queue.post("/windows/<window:int>/skip")
@operation("过号", tag="queue", responses={200: TicketOut, 404: None}, headers=("X-Actor",))
async def skip(request: Request, window: int):
    """Mark the window's current number as not present."""
    ticket = await service.skip(
        request.app.ctx.db, _window(request, window), actor=actor(request), today=today(request)
    )
    return json(ticket_out(Placed(ticket, 0)).model_dump(mode="json"))


@queue.get("/status")
@operation("大厅排队情况", tag="queue", responses={200: QueueStatusOut})
async def status(request: Request):
    """Waiting per category and the number each window serves."""
    settings = request.app.ctx.settings
    day = today(request)
    waiting, serving = await service.hall_status(request.app.ctx.db, day, settings.window_count)
    windows = [WindowOut(window=w, number=serving.get(w)) for w in range(1, settings.window_count + 1)]
    return json(QueueStatusOut(service_day=day, waiting=waiting, windows=windows).model_dump(mode="json"))


@queue.post("/windows/<window:int>/transfer")
@operation(
    "转窗口", tag="queue", body=TransferIn, responses={200: TicketOut, 404: None, 409: None}, headers=("X-Actor",)
)
async def transfer(request: Request, window: int):
    """Send the window's current number to another window, which calls it before anyone else."""
    body = parse_body(request, TransferIn)
    ticket = await service.transfer(
        request.app.ctx.db,
        _window(request, window),
        _window(request, body.to),
        actor=actor(request),
        today=today(request),
    )
    return json(ticket_out(Placed(ticket, 0)).model_dump(mode="json"))


@queue.post("/windows/<window:int>/pause")
@operation("窗口暂停叫号", tag="queue", responses={200: WindowStateOut, 404: None}, headers=("X-Actor",))
async def pause(request: Request, window: int):
    """Stop calling at this window (call-next is refused until it resumes)."""
    return await _set_paused(request, window, True)


@queue.post("/windows/<window:int>/resume")
@operation("窗口恢复叫号", tag="queue", responses={200: WindowStateOut, 404: None}, headers=("X-Actor",))
async def resume(request: Request, window: int):
    """Resume calling at this window."""
    return await _set_paused(request, window, False)


async def _set_paused(request: Request, window: int, paused: bool) -> HTTPResponse:
    db, day = request.app.ctx.db, today(request)
    state = await service.set_paused(db, _window(request, window), paused, actor=actor(request), today=day)
    return json(WindowStateOut(window=window, paused=state).model_dump(mode="json"))


@queue.get("/board")
@operation("叫号屏内容", tag="queue", responses={200: BoardOut})
async def board(request: Request):
    """Each window's number, the next numbers, how many wait, paused windows."""
    return json(await _board(request))


@queue.get("/events")
@operation("大厅事件流（server-sent events）", tag="queue", responses={200: HallEventOut})
async def events(request: Request):
    """A ``text/event-stream`` of hall events, each with the board as it is now. A client resuming after a dropped
    connection sends ``Last-Event-ID`` (or ``?after=``) and gets every event it missed; a new client first gets a
    ``snapshot`` of the board."""
    db = request.app.ctx.db
    after = _resume_point(request)
    stream = await request.respond(content_type="text/event-stream", headers={"Cache-Control": "no-store"})
    if after is None:
        after = await service.last_event_id(db)
        await stream.send(_sse(after, "snapshot", None, None, await _board(request)))
    quiet_since = time.monotonic()
    while True:
        found = await service.events_after(db, after)
        if found:
            snapshot = await _board(request)
            for event in found:
                await stream.send(_sse(event.id, event.kind, event.number, event.window, snapshot))
                after = event.id
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            await stream.send(": keep-alive\n\n")  # proxies close silent connections
            quiet_since = time.monotonic()
        changed = _hall_changed(request.app)
        async with changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), EVENT_POLL_S)


def _resume_point(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.args.get("after")
    if raw is None:
        return None
    if not raw.isdigit():
        raise invalid("bad_event_id", "Last-Event-ID 应为数字。", field="after")
    return int(raw)


async def _board(request: Request) -> dict:
    settings = request.app.ctx.settings
    snapshot = await service.board(request.app.ctx.db, today(request), settings.window_count)
    return BoardOut.model_validate(snapshot).model_dump(mode="json")


def _sse(event_id: int, kind: str, number: str | None, window: int | None, snapshot: dict) -> str:
    data = {"id": event_id, "kind": kind, "number": number, "window": window, "board": snapshot}
    return f"id: {event_id}\nevent: queue\ndata: {json_module.dumps(data, ensure_ascii=False)}\n\n"
