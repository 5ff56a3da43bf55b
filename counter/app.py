"""The counter service's app: the counter's screen and its API (`counter.kiosk`), speech recognition
(`counter.speech`) and ``GET /health``. One process: it holds the counters' resident sessions."""

from __future__ import annotations

import functools
import json as json_module

import httpx
from sanic import Request, Sanic, json

from counter.backend_api import BackendApi
from counter.config import CounterSettings
from counter.errors import JsonErrors
from counter.kiosk import kiosk
from counter.sessions import Stations
from counter.speech import speech

MAX_BODY_BYTES = 64 * 1024
"""Largest body of a kiosk request (a turn is a few hundred bytes); speech reads its own, larger, stream."""


def create_app(settings: CounterSettings | None = None, *, name: str = "jiujin_counter") -> Sanic:
    """Build the counter service's app; its HTTP clients are made when the server starts."""
    settings = settings or CounterSettings()
    app = Sanic(name, error_handler=JsonErrors(), dumps=functools.partial(json_module.dumps, ensure_ascii=False))
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings
    app.ctx.stations = Stations()
    app.blueprint(kiosk)
    app.blueprint(speech)

    @app.get("/health")
    async def health(request: Request):
        """Liveness, and whether speech recognition is available."""
        return json({"status": "ok", "speech": request.app.ctx.speech.recognizer is not None})

    @app.before_server_start
    async def open_clients(app: Sanic) -> None:
        app.ctx.rasa_http = httpx.AsyncClient(timeout=settings.rasa_timeout_s)
        app.ctx.backend = BackendApi(settings.backend_url, httpx.AsyncClient())

    @app.after_server_stop
    async def close_clients(app: Sanic) -> None:
        await app.ctx.rasa_http.aclose()
        await app.ctx.backend.http.aclose()

    return app
