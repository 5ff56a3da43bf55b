"""A counter ticket's QR code: when the ticket printer claims its job, the backend asks WeChat (the API stand-in) for
a code carrying the ticket's scene and keeps it in its document, so a reprint prints the same code; where WeChat is
not configured, fails or does not answer in time, the ticket's page instead (marked so), without holding a write
transaction open meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from backend.catalog.schema import Catalog
from backend.follow_codes import QR_TIMEOUT_S
from simulators.wechat.api_standin import ApiStandIn
from simulators.wechat.qr_codes import URL_PREFIX
from tests.conftest import Api, case_body, make_app, running
from tests.wechat.conftest import PLAIN, serving
from vocabulary.scenes import ticket_scene

DAY = dt.date(2026, 11, 27)
PAGE_URL = "https://jiujin.example/follow"


@contextlib.asynccontextmanager
async def stand_in() -> AsyncIterator[tuple[ApiStandIn, str]]:
    """The WeChat API stand-in on a loopback port; yields it and its base URL."""
    state = ApiStandIn(PLAIN)
    app = Sanic(f"follow_codes_standin_{time.monotonic_ns()}")
    state.add_routes(app)
    async with serving(app) as root:
        yield state, root


@contextlib.asynccontextmanager
async def hall(database_url: str, catalog: Catalog, api_base_url: str | None) -> AsyncIterator[Api]:
    """A backend whose WeChat API is at ``api_base_url`` (None: WeChat not configured), on ``DAY`` at noon."""
    async with running(make_app(database_url, catalog, notifier_enabled=False, follow_url=PAGE_URL)) as api:
        api.set_today(DAY)
        yield api


@pytest.fixture
def wechat_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[callable]:
    """Configure WeChat for the next backend started (the backend reads WECHAT_* when it starts)."""

    def configure(api_base_url: str) -> None:
        monkeypatch.setenv("WECHAT_APPID", PLAIN.appid)
        monkeypatch.setenv("WECHAT_SECRET", PLAIN.secret)
        monkeypatch.setenv("WECHAT_API_BASE_URL", api_base_url)
        monkeypatch.setenv("WECHAT_STATE_PATH", str(tmp_path / "wechat-state.db"))
        monkeypatch.delenv("REDIS_URL", raising=False)

    monkeypatch.delenv("WECHAT_APPID", raising=False)
    yield configure


async def take_counter_ticket(api: Api) -> dict:
    response = await api.post("/api/v1/queue/tickets", json={"category": "A", "channel": "counter"})
    assert response.status == 201, response.json
    return response.json


async def claim_ticket_job(api: Api) -> dict:
    response = await api.post("/api/v1/print-jobs/claim", json={"printer": "ticket"})
    assert response.status == 200, response.text
    return response.json


async def reprint(api: Api, job: dict) -> dict:
    back = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "queued", "error": "缺纸"})
    assert back.status == 200
    return await claim_ticket_job(api)


async def test_the_claim_stores_wechats_code_and_a_reprint_prints_the_same(
    database_url: str, catalog: Catalog, wechat_env
) -> None:
    async with stand_in() as (standin, root):
        wechat_env(f"{root}/cgi-bin/")
        async with hall(database_url, catalog, f"{root}/cgi-bin/") as api:
            ticket = await take_counter_ticket(api)
            job = await claim_ticket_job(api)
            payload = job["document"]
            assert payload["qr_kind"] == "wechat" and payload["qr"].startswith(URL_PREFIX)
            (created,) = [c for c in standin.calls if c["api"] == "qrcode_create"]
            scene = ticket_scene(api.app.ctx.follow_secret, DAY, ticket["number"])  # signed by this backend
            assert scene.startswith(f"ticket_20261127_{ticket['number']}_")
            assert created["body"] == {
                "expire_seconds": 12 * 3600,  # noon: until the end of the service day
                "action_name": "QR_STR_SCENE",
                "action_info": {"scene": {"scene_str": scene}},
            }
            code = standin.qr_codes.scannable(payload["qr"])
            assert code is not None and code.scene == scene

            again = await reprint(api, job)
            assert again["document"]["qr"] == payload["qr"] and again["attempts"] == 2
            assert len([c for c in standin.calls if c["api"] == "qrcode_create"]) == 1
            listed = (await api.get(f"/api/v1/print-jobs/{job['id']}")).json
            assert listed["document"]["qr"] == payload["qr"]


async def test_a_failing_wechat_gives_the_page_once_logged_and_kept_for_the_reprint(
    database_url: str, catalog: Catalog, wechat_env, caplog: pytest.LogCaptureFixture
) -> None:
    async with stand_in() as (standin, root):
        wechat_env(f"{root}/cgi-bin/")
        async with hall(database_url, catalog, f"{root}/cgi-bin/") as api, httpx.AsyncClient() as http:
            ticket = await take_counter_ticket(api)
            assert (await http.post(f"{root}/simulator/faults", json={"fail": 1})).status_code == 200
            with caplog.at_level(logging.WARNING, logger="backend.follow_codes"):
                job = await claim_ticket_job(api)
                again = await reprint(api, job)
            page = f"{PAGE_URL}/ticket/2026-11-27/{ticket['number']}"
            assert (job["document"]["qr"], job["document"]["qr_kind"]) == (page, "page")
            assert again["document"]["qr"] == page  # the same code on the reprint: WeChat is not asked again
            assert [c["errcode"] for c in standin.calls if c["api"] == "qrcode_create"] == [-1]
            failures = [r for r in caplog.records if "made no QR code" in r.getMessage()]
            assert len(failures) == 1 and "errcode -1" in failures[0].getMessage()
            assert "access_token" not in caplog.text


async def test_without_wechat_the_ticket_carries_its_page(database_url: str, catalog: Catalog, wechat_env) -> None:
    async with hall(database_url, catalog, None) as api:
        ticket = await take_counter_ticket(api)
        job = await claim_ticket_job(api)
        assert job["document"]["qr"] == f"{PAGE_URL}/ticket/2026-11-27/{ticket['number']}"
        assert job["document"]["qr_kind"] == "page"
        number = (await api.post("/api/v1/cases", json=case_body())).json["case_number"]
        receipt = await api.post("/api/v1/print-jobs", json={"kind": "pickup_notice", "case_number": number})
        claimed = (await api.post("/api/v1/print-jobs/claim", json={"printer": "receipt"})).json
        assert claimed["id"] == receipt.json["id"] and "qr" not in claimed["document"]  # tickets only


@pytest.fixture
def silent_wechat() -> Iterator[socket.socket]:
    """A WeChat API that takes connections and never answers: its listening socket (non-blocking), whose accept
    tells the test that the backend is waiting for WeChat."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


def url_of(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}/cgi-bin/"


async def test_a_silent_wechat_costs_the_claim_two_seconds_and_blocks_no_other_write(
    database_url: str, catalog: Catalog, wechat_env, silent_wechat: socket.socket
) -> None:
    wechat_env(url_of(silent_wechat))
    async with hall(database_url, catalog, url_of(silent_wechat)) as api:
        ticket = await take_counter_ticket(api)
        started = time.monotonic()
        claiming = asyncio.create_task(claim_ticket_job(api))
        connection, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(silent_wechat), 20)
        with connection:  # the claim is waiting for WeChat now
            other = await take_counter_ticket(api)  # a write while it waits: no transaction is held open
            assert not claiming.done() and other["number"] != ticket["number"]
            job = await claiming
        # The promise: WeChat's silence costs the claim QR_TIMEOUT_S, no less and not much more. The upper bound
        # leaves a loaded machine room for the claim's own work around the wait.
        assert QR_TIMEOUT_S - 0.1 < time.monotonic() - started < QR_TIMEOUT_S + 4
        assert job["document"]["qr_kind"] == "page"
