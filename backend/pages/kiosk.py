"""``GET /kiosk``: the voice counter's screen is served by the counter service (`counter.kiosk`); this address
redirects there (COUNTER_URL), so a bookmark of the backend's ``/kiosk`` keeps working. The fragment that carries a
counter's credential (``#key=…``) is never sent to a server: the browser keeps it across the redirect."""

from __future__ import annotations

from sanic import Blueprint, Request, redirect

kiosk = Blueprint("kiosk")


@kiosk.get("/kiosk")
async def page(request: Request):
    """To the counter service's screen."""
    target = f"{request.app.ctx.settings.counter_url}/kiosk"
    return redirect(target, status=307, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
