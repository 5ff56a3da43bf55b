"""The hall's display board at ``GET /board``: now calling, next, waiting per category, in large type.

The page is static; its script follows ``/api/v1/queue/events`` (server-sent events, resumed by the browser with
Last-Event-ID after a dropped connection) and redraws from the board each event carries, so it never drifts from
the queue. The LED board and the announcements follow the same events.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, Request, html

board_page = Blueprint("board_page")
PAGE = (Path(__file__).parent / "board.html").read_text(encoding="utf-8")


@board_page.get("/board")
async def board(request: Request):
    return html(PAGE, headers={"Cache-Control": "no-store"})
