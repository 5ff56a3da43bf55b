"""The Sanic app factory: routes, the doors (`backend.api.access`), per-worker database engine, one JSON error
handler, the OpenAPI document."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json as json_module
import logging
from typing import Any

from sanic import Request, Sanic, json
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from backend import follow_codes, migrate
from backend.api import access
from backend.api.cases import cases
from backend.api.counters import counters
from backend.api.identity import identity
from backend.api.items import items
from backend.api.notifications import notifications
from backend.api.openapi import build_document
from backend.api.opening_hours import opening_hours
from backend.api.print_jobs import print_jobs
from backend.api.queue import queue
from backend.api.vault import vault
from backend.catalog import store as catalog_store
from backend.catalog.loader import load_catalog
from backend.catalog.schema import Catalog
from backend.config import VAR_DIR, Settings
from backend.console import console
from backend.db import Database
from backend.errors import ApiError
from backend.logs import install_masking
from backend.notices import sender as notifier
from backend.pages.board import board_page
from backend.pages.follow import follow_pages, follow_secret
from backend.pages.kiosk import kiosk
from backend.services.documents import FollowLinks

logger = logging.getLogger(__name__)

VERSION = "0.1.0"
MAX_BODY_BYTES = 256 * 1024


def database_unreachable(exception: Exception) -> bool:
    """True when the database could not be used at all: a connection broke, or none could be opened.

    A PostgreSQL that is restarting or down refuses new connections: the driver's OperationalError is raised
    while connecting, before any statement ran (``statement`` is None).
    """
    if not isinstance(exception, DBAPIError):
        return False
    return exception.connection_invalidated or (isinstance(exception, OperationalError) and exception.statement is None)


class JsonErrors(ErrorHandler):
    """Every error leaves as ``{"error": {"code", "message"}}``; never an HTML page, never a stack trace."""

    def default(self, request: Request, exception: Exception) -> Any:
        if isinstance(exception, ApiError):
            return json(exception.to_json(), status=exception.status)
        if database_unreachable(exception):  # 503: clients retry (the bot's filing does, with its idempotency key)
            logger.error("database unavailable: %s", type(exception).__name__)
            error = ApiError(503, "database_unavailable", "系统暂时连不上数据库，请稍后再试，您的信息没有丢失。")
            return json(error.to_json(), status=503)
        if isinstance(exception, SanicException):
            status = exception.status_code
            messages = {
                404: "没有这个地址。",
                405: "不支持这种请求方式。",
                413: "请求内容太大。",
                400: "请求格式不正确。",
            }
            code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(status, "bad_request")
            return json(ApiError(status, code, messages.get(status, "请求无法处理。")).to_json(), status=status)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json(ApiError(500, "internal_error", "系统出了点问题，请稍后再试。").to_json(), status=500)


def create_app(
    settings: Settings | None = None, *, catalog: Catalog | None = None, name: str = "jiujin_backend"
) -> Sanic:
    """Build the backend app. The database engine is created per worker when the server starts."""
    settings = settings or Settings.from_env()
    # Chinese stays readable in responses (and in curl output) instead of \uXXXX escapes.
    app = Sanic(name, error_handler=JsonErrors(), dumps=functools.partial(json_module.dumps, ensure_ascii=False))
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings
    app.ctx.catalog = catalog or load_catalog(settings.catalog_path)
    app.ctx.clock = lambda: dt.datetime.now(settings.timezone)
    app.ctx.follow_secret = follow_secret(settings.follow_secret, VAR_DIR)
    app.ctx.follow_links = FollowLinks(settings.follow_url, app.ctx.follow_secret)  # printed QR codes lead there
    pages = (board_page, follow_pages, kiosk, console)
    blueprints = (items, cases, queue, print_jobs, identity, notifications, counters, opening_hours, vault)
    for blueprint in (*blueprints, *pages):
        app.blueprint(blueprint)
    access.install(app)  # Host everywhere; Origin, service token and JSON bodies on /api/v1

    @app.on_request
    async def refuse_huge_bodies(request: Request):
        """Sanic's own limit applies to its HTTP server only; this one also holds behind ASGI."""
        if request.route is not None and getattr(request.route.handler, "is_stream", False):
            return  # a streaming handler reads its body itself, within its own limit (photos of materials)
        declared = request.headers.get("content-length", "0")
        if (declared.isdigit() and int(declared) > MAX_BODY_BYTES) or len(request.body or b"") > MAX_BODY_BYTES:
            raise ApiError(413, "payload_too_large", "请求内容太大。")

    @app.get("/api/v1/health")
    async def health(request: Request):
        """Liveness and database reachability."""
        async with request.app.ctx.db.read() as session:
            await session.execute(text("SELECT 1"))
        return json({"status": "ok", "items": len(request.app.ctx.catalog.items)})

    @app.get("/api/v1/openapi.json")
    async def openapi(request: Request):
        """The OpenAPI document of this API."""
        return json(request.app.ctx.openapi)

    @app.before_server_start
    async def open_database(app: Sanic) -> None:
        if settings.auto_migrate:
            await asyncio.get_running_loop().run_in_executor(None, migrate.upgrade, settings.database_url)
        app.ctx.db = Database(settings.database_url)
        app.ctx.openapi = build_document(app, title="jiujin backend", version=VERSION)
        install_masking("sanic.root", "sanic.error", "sanic.access", "sanic.server")
        app.ctx.notifier = await notifier.start(app.ctx.db, settings)
        app.ctx.follow_codes = await follow_codes.start(settings, app.ctx.follow_secret)

    @app.before_server_stop
    async def stop_notifier(app: Sanic) -> None:
        await notifier.stop(getattr(app.ctx, "notifier", None))

    @app.after_server_stop
    async def close_database(app: Sanic) -> None:
        await app.ctx.db.dispose()

    catalog_store.install(app)  # after open_database: the admins' catalog edits are read from the database
    return app
