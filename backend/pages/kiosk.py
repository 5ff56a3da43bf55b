"""The voice counter's screen at ``GET /kiosk``: what jiujin heard and answered, in large type, with large buttons.

One counter session (``?session=…``) has two sides: the screen, which sends what the resident taps or types, and
the microphone (`voice.live`, through `voice.kiosk_client`), which sends what it recognised with its confidence.
Both post to ``POST /kiosk/api/turn``; the backend runs the counter's own logic (`voice.counter`: confirm when
unsure, help after two failures, 重复) in front of the dialogue, which it reaches over Rasa's REST channel at
``RASA_URL``. Every turn is numbered and kept (the last `KEPT_TURNS`), and ``GET /kiosk/api/events`` streams them,
so the screen shows what was said into the microphone and the microphone side speaks what was tapped.

A session's turns run one at a time (the counter logic keeps state between them). Sessions live in this process:
one counter, one backend worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as json_module
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from sanic import Blueprint, Request, html, json

from backend.api.common import parse_body
from backend.api.schemas import KIOSK_SESSION, KioskTurnIn
from backend.errors import invalid
from voice.counter import Counter, CounterSession

kiosk = Blueprint("kiosk")
PAGE = (Path(__file__).parent / "kiosk.html").read_text(encoding="utf-8")
MAX_SESSIONS = 200
KEPT_TURNS = 50
"""Turns a session keeps for a screen that reconnects."""
KEEPALIVE_S = 15


@dataclass
class KioskSession:
    counter: CounterSession
    turns: deque[dict] = field(default_factory=lambda: deque(maxlen=KEPT_TURNS))
    seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def after(self, seq: int) -> list[dict]:
        return [turn for turn in self.turns if turn["seq"] > seq]


def _session(request: Request, name: str) -> KioskSession:
    sessions: dict[str, KioskSession] = request.app.ctx.__dict__.setdefault("kiosk_sessions", {})
    if name not in sessions:
        if len(sessions) >= MAX_SESSIONS:
            sessions.pop(next(iter(sessions)))  # the oldest resident has long gone
        sessions[name] = KioskSession(CounterSession(sender=f"kiosk-{name}"))
    return sessions[name]


@kiosk.get("/kiosk")
async def page(request: Request):
    return html(PAGE, headers={"Cache-Control": "no-store"})


@kiosk.post("/kiosk/api/turn")
async def turn(request: Request):
    body = parse_body(request, KioskTurnIn)
    session = _session(request, body.session)
    async with session.lock:
        counter = Counter(request.app.ctx.settings.rasa_url, session=session.counter)
        result = await asyncio.to_thread(counter.hear, body.text, body.confidence)
        session.seq += 1
        record = {
            "seq": session.seq,
            "source": body.source,
            "heard": result.heard,
            "replies": result.replies,
            "asked_to_confirm": result.asked_to_confirm,
        }
        session.turns.append(record)
    async with session.changed:
        session.changed.notify_all()
    return json(record)


@kiosk.get("/kiosk/api/events")
async def events(request: Request):
    """A ``text/event-stream`` of the session's turns. A new client first gets the latest turn as a ``snapshot``
    (a reloaded screen shows where the resident is); one resuming with ``Last-Event-ID`` gets every turn it missed."""
    name = request.args.get("session", "")
    if not re.fullmatch(KIOSK_SESSION, name):
        raise invalid("bad_session", "会话编号不对。", field="session")
    session = _session(request, name)
    raw = request.headers.get("last-event-id") or request.args.get("after")
    if raw is not None and not raw.isdigit():
        raise invalid("bad_event_id", "Last-Event-ID 应为数字。", field="after")
    stream = await request.respond(content_type="text/event-stream", headers={"Cache-Control": "no-store"})
    if raw is None:
        seen = session.seq
        if session.turns:
            await stream.send(_sse(session.turns[-1], "snapshot"))
    else:
        seen = int(raw)
    quiet_since = time.monotonic()
    while True:
        for record in session.after(seen):
            await stream.send(_sse(record, "turn"))
            seen = record["seq"]
            quiet_since = time.monotonic()
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            await stream.send(": keep-alive\n\n")  # proxies close silent connections
            quiet_since = time.monotonic()
        async with session.changed:  # checked under the condition, so a turn added now cannot be missed
            if not session.after(seen):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(session.changed.wait(), KEEPALIVE_S)


def _sse(record: dict, kind: str) -> str:
    return f"id: {record['seq']}\nevent: {kind}\ndata: {json_module.dumps(record, ensure_ascii=False)}\n\n"
