"""The counter service's app served on a free loopback port in the test's event loop, with its start-up listeners
(speech model, HTTP clients) run as the real server runs them."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sanic import Sanic

from counter.app import create_app
from counter.config import CounterSettings
from security.tokens import service_token

Sanic.test_mode = True  # several apps in one process, one after another (Sanic's touch-ups run once per app)


def counter_app(**settings: Any) -> Sanic:
    """A counter service app with ``settings`` (a fresh name: Sanic keeps every app by its name)."""
    return create_app(CounterSettings(**settings), name=f"counter_test_{uuid.uuid4().hex[:8]}")


@contextlib.asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


def channels_headers() -> dict[str, str]:
    """``Authorization`` with the channels' token (made in this run's secrets folder when missing), as the WeChat
    channel sends it."""
    return {"Authorization": f"Bearer {service_token('channels', create=True)}"}
