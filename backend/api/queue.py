"""The queue: take a number, call next / recall / skip at a window, follow a ticket, hall status."""

from __future__ import annotations

from sanic import Blueprint, Request, json

from backend.api.common import actor, idempotency_key, parse_body, parse_query, today
from backend.api.openapi import operation
from backend.api.present import ticket_out
from backend.api.schemas import QueueStatusOut, TicketCreate, TicketOut, TicketQuery, WindowOut
from backend.errors import not_found
from backend.services import queue as service
from backend.services.queue import Placed

queue = Blueprint("queue", url_prefix="/api/v1/queue")


def _window(request: Request, window: int) -> int:
    if not 1 <= window <= request.app.ctx.settings.window_count:
        raise not_found("unknown_window", f"没有{window}号窗口。")
    return window


@queue.post("/tickets")
@operation(
    "取号",
    tag="queue",
    body=TicketCreate,
    responses={201: TicketOut, 200: TicketOut},
    headers=("Idempotency-Key", "X-Actor"),
)
async def take(request: Request):
    """Take the next number of the day; ``ahead`` is how many are expected to be served first."""
    body = parse_body(request, TicketCreate)
    key = idempotency_key(request)
    placed = await service.take_ticket(
        request.app.ctx.db, body, actor=actor(request), today=today(request), idempotency_key=key
    )
    return json(ticket_out(placed).model_dump(mode="json"), status=201)


@queue.get("/tickets/<number:str>")
@operation("查询号码", tag="queue", query=TicketQuery, responses={200: TicketOut, 404: None})
async def follow(request: Request, number: str):
    """A ticket's status and how many are ahead."""
    query = parse_query(request, TicketQuery)
    placed = await service.find_ticket(request.app.ctx.db, number.upper(), query.day or today(request))
    return json(ticket_out(placed).model_dump(mode="json"))


@queue.post("/windows/<window:int>/call-next")
@operation("窗口叫下一个号", tag="queue", responses={200: TicketOut, 404: None}, headers=("X-Actor",))
async def call_next(request: Request, window: int):
    """Finish the window's current ticket and call the next (404 when nobody waits)."""
    ticket = await service.call_next(
        request.app.ctx.db,
        _window(request, window),
        actor=actor(request),
        today=today(request),
        priority_streak_cap=request.app.ctx.settings.priority_streak_cap,
    )
    return json(ticket_out(Placed(ticket, 0)).model_dump(mode="json"))


@queue.post("/windows/<window:int>/recall")
@operation("重呼当前号", tag="queue", responses={200: TicketOut, 404: None}, headers=("X-Actor",))
async def recall(request: Request, window: int):
    """Call the window's current number again."""
    ticket = await service.recall(
        request.app.ctx.db, _window(request, window), actor=actor(request), today=today(request)
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
