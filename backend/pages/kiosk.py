"""The voice counter's screen at ``GET /kiosk``: what jiujin heard and answered, in large type, with large buttons.

The page sends what the resident taps or types to ``POST /kiosk/api/turn``; the backend runs the counter's own
logic (`voice.counter`: confirm when unsure, help after two failures, 重复) in front of the dialogue, which it
reaches over Rasa's REST channel at ``RASA_URL``. The microphone side posts what it recognised, with its
confidence, to the same endpoint and session. Counter sessions live in this process (one counter, one worker).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sanic import Blueprint, Request, html, json

from backend.api.common import parse_body
from backend.api.schemas import KioskTurnIn
from voice.counter import Counter, CounterSession

kiosk = Blueprint("kiosk")
PAGE = (Path(__file__).parent / "kiosk.html").read_text(encoding="utf-8")
MAX_SESSIONS = 200


@kiosk.get("/kiosk")
async def page(request: Request):
    return html(PAGE, headers={"Cache-Control": "no-store"})


@kiosk.post("/kiosk/api/turn")
async def turn(request: Request):
    body = parse_body(request, KioskTurnIn)
    sessions: dict[str, CounterSession] = request.app.ctx.__dict__.setdefault("kiosk_sessions", {})
    if body.session not in sessions:
        if len(sessions) >= MAX_SESSIONS:
            sessions.pop(next(iter(sessions)))  # the oldest resident has long gone
        sessions[body.session] = CounterSession(sender=f"kiosk-{body.session}")
    counter = Counter(request.app.ctx.settings.rasa_url, session=sessions[body.session])
    result = await asyncio.to_thread(counter.hear, body.text, body.confidence)
    return json({"heard": result.heard, "replies": result.replies, "asked_to_confirm": result.asked_to_confirm})
