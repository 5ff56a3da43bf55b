"""Shared by the WeChat tests: serving a Sanic app in the test's event loop, and the WeChat API stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sanic import Sanic
from wechatpy import WeChatClient

from simulators.wechat.api_standin import ApiStandIn
from wechat.settings import WeChatSettings

Sanic.test_mode = True
_names = itertools.count()

PLAIN = WeChatSettings(token="simtoken", appid="wx0123456789abcdef", secret="simsecret")
SAFE = WeChatSettings(
    token="simtoken",
    appid="wx0123456789abcdef",
    secret="simsecret",
    aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
)
OPENID = "oSim_0123456789abcdefghijklm"


@contextlib.asynccontextmanager
async def serving(app: Sanic) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port in this event loop; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


class StandInClient(WeChatClient):
    """wechatpy's client with the token URL moved too (wechatpy hard-codes the official one)."""

    def __init__(self, base: str, settings: WeChatSettings = PLAIN, secret: str | None = None) -> None:
        super().__init__(settings.appid, settings.secret if secret is None else secret)
        self.API_BASE_URL = base

    def fetch_access_token(self) -> dict[str, Any]:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        return self._fetch_access_token(url=self.API_BASE_URL + "token", params=params)


@dataclass
class StandIn:
    state: ApiStandIn
    base: str  # …/cgi-bin/
    root: str
    now: list[float]

    def client(self, **kwargs: Any) -> StandInClient:
        return StandInClient(self.base, **kwargs)


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[StandIn]:
    now = [1_800_000_000.0]
    state = ApiStandIn(PLAIN, tmp_path / "records" / "outbound.jsonl", clock=lambda: now[0])
    app = Sanic(f"standin_{next(_names)}")
    state.add_routes(app)
    async with serving(app) as root:
        yield StandIn(state, f"{root}/cgi-bin/", root, now)


def call(function: Callable[..., Any], *args: Any) -> Any:
    """wechatpy is synchronous: run it off the loop that serves the stand-in."""
    return asyncio.to_thread(function, *args)
