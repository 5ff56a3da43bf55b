"""Filing and taking a number while the backend, a replica behind nginx or PostgreSQL restarts: no case lost,
none filed twice. A transport between the client and the in-process backend plays nginx and the network."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from rasa_sdk.executor import CollectingDispatcher
from sanic import Sanic
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from actions.clients.backend import BackendClient, BackendUnavailable, backend, use_backend
from actions.config import ActionSettings
from actions.filing import ActionFileCase, ValidateFilingForm
from actions.personal_data import conversation
from actions.queue import ActionTakeNumber
from backend.catalog.schema import Catalog
from backend.models import Case, QueueTicket, Resident
from harness.processes import free_port
from tests.actions.conftest import responses, slots_set, tracker
from tests.conftest import ELDER_ID, SKIP_POSTGRES, TEST_HOST, YOUNG_ID, make_app, postgres_database, running
from tests.waiting import eventually

FAST = ActionSettings(
    backend_url=f"http://{TEST_HOST}", write_retry_s=2.0, write_backoff_s=0.01, write_backoff_max_s=0.05
)
"""Retries within 2 s, a few hundredths of a second apart: the tests take no longer than the backend does."""
NGINX_502 = "<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"
FILING = {
    "item": "residence_permit",
    "person_name": "王秀英",
    "id_number": YOUNG_ID,
    "phone": "13812345678",
    "community": "骆家庄社区",
}


class Flaky(httpx.AsyncBaseTransport):
    """Forwards to the backend app, except for the faults queued for the next requests, one per request.

    An int answers with that status without reaching the backend (502/504: nginx has no replica; 503: the
    backend's database is down); "refused" fails to connect; "lost" lets the backend answer, then drops the answer
    (the replica died after committing).
    """

    def __init__(self, app: Sanic) -> None:
        self.app = app
        self.backend = httpx.ASGITransport(app=app)
        self.faults: list[int | str] = []
        self.attempts: list[tuple[str, str, str | None]] = []
        """(method, path, Idempotency-Key) of every request the client sent."""
        self.answered: list[int] = []
        """Statuses the backend itself answered with, lost answers included."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append((request.method, request.url.path, request.headers.get("idempotency-key")))
        fault = self.faults.pop(0) if self.faults else None
        if fault == "refused":
            raise httpx.ConnectError("connection refused", request=request)
        if fault == 502 or fault == 504:
            return httpx.Response(fault, html=NGINX_502, request=request)
        if isinstance(fault, int):
            error = {"error": {"code": "database_unavailable", "message": "系统暂时连不上数据库"}}
            return httpx.Response(fault, json=error, request=request)
        response = await self.backend.handle_async_request(request)
        await response.aread()
        self.answered.append(response.status_code)
        if fault == "lost":
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def posts(self, path: str) -> list[str | None]:
        """The Idempotency-Keys of the POSTs to ``path``, one per attempt."""
        return [key for method, seen, key in self.attempts if method == "POST" and seen == path]


@contextlib.asynccontextmanager
async def behind_flaky(app: Sanic, settings: ActionSettings = FAST) -> AsyncIterator[Flaky]:
    """The started ``app`` as the actions' backend, behind a Flaky transport."""
    async with running(app):
        transport = Flaky(app)
        client = BackendClient(settings, transport=transport)
        use_backend(client)
        try:
            yield transport
        finally:
            use_backend(None)
            await client.aclose()


@pytest.fixture
async def flaky(sqlite_url: str, catalog: Catalog) -> AsyncIterator[Flaky]:
    """A backend on a fresh SQLite file, reached through a Flaky transport."""
    async with behind_flaky(make_app(sqlite_url, catalog)) as transport:
        yield transport


async def count(app: Sanic, model: type) -> int:
    """Rows of ``model`` in the backend's database."""
    async with app.ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def file_case(domain: dict, slots: dict[str, Any] = FILING) -> tuple[CollectingDispatcher, list[dict]]:
    """Run action_file_case on a filled-in form."""
    dispatcher = CollectingDispatcher()
    events = await ActionFileCase().run(dispatcher, tracker(slots=slots, sender="wx-openid-7"), domain)
    return dispatcher, events


async def test_two_503s_then_the_case_is_filed_once(flaky: Flaky, domain) -> None:
    flaky.faults = [503, 503]
    said, events = await file_case(domain)
    assert responses(said)[:2] == ["utter_case_filed", "utter_case_filed_promised"]
    number = said.messages[0]["case_number"]
    assert number.startswith("JJ-") and slots_set(events)["case_number"] == number
    keys = flaky.posts("/api/v1/cases")
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("bot-")  # the same key every time
    assert flaky.answered == [201] and await count(flaky.app, Case) == 1


async def test_answer_lost_after_commit_gives_the_same_case(flaky: Flaky, domain) -> None:
    flaky.faults = ["lost"]
    said, _ = await file_case(domain)
    assert flaky.answered == [201, 200]  # committed, answer lost; the retry is the idempotent replay
    number = said.messages[0]["case_number"]
    assert await count(flaky.app, Case) == 1
    async with flaky.app.ctx.db.read() as session:
        assert await session.scalar(select(Case.case_number)) == number


async def test_nginx_502_and_a_refused_connection_then_filed(flaky: Flaky, domain) -> None:
    flaky.faults = [502, "refused", 504]
    said, _ = await file_case(domain)
    assert responses(said)[0] == "utter_case_filed" and len(flaky.posts("/api/v1/cases")) == 4
    assert await count(flaky.app, Case) == 1


async def test_queue_number_survives_a_lost_answer_once(flaky: Flaky, domain) -> None:
    flaky.faults = [502, "lost"]
    said = CollectingDispatcher()
    await ActionTakeNumber().run(said, tracker(text="取号", slots={"id_number": ELDER_ID}), domain)
    assert responses(said) == ["utter_ticket_taken"] and said.messages[0]["number"] == "V001"
    assert len(flaky.answered) == 2 and len(set(flaky.posts("/api/v1/queue/tickets"))) == 1  # taken, then replayed
    assert await count(flaky.app, QueueTicket) == 1


async def test_budget_spent_keeps_the_answers_and_a_later_filing_is_the_same_case(
    sqlite_url: str, catalog: Catalog, domain
) -> None:
    settings = ActionSettings(
        backend_url=f"http://{TEST_HOST}", write_retry_s=0.3, write_backoff_s=0.01, write_backoff_max_s=0.05
    )
    async with behind_flaky(make_app(sqlite_url, catalog), settings) as flaky:
        flaky.faults = ["lost", *[503] * 1000]  # the first attempt went through; then the database went away
        said, events = await file_case(domain)
        assert responses(said) == ["utter_backend_unavailable"]
        assert len(flaky.posts("/api/v1/cases")) > 2
        kept = slots_set(events)
        assert not set(kept) & {*FILING, "proxy_consent"}  # the answers stay for the next try
        assert kept["filing_outcome"] is None and kept["requested_slot"] is None
        flaky.faults = []
        again, _ = await file_case(domain, {**FILING, **kept})  # "我要申请" again: the form has every answer
        assert responses(again)[0] == "utter_case_filed"
        assert flaky.answered == [201, 200] and len(set(flaky.posts("/api/v1/cases"))) == 1
        assert await count(flaky.app, Case) == 1


async def test_pauses_double_up_to_the_cap_each_with_a_random_part_and_the_budget_holds(
    sqlite_url: str, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    """Action servers that lost the backend together must not knock again in the same instant."""
    settings = ActionSettings(
        backend_url=f"http://{TEST_HOST}", write_retry_s=0.5, write_backoff_s=0.02, write_backoff_max_s=0.08
    )
    async with behind_flaky(make_app(sqlite_url, catalog), settings) as flaky:
        flaky.faults = [503] * 1000
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="actions.clients.backend"), pytest.raises(BackendUnavailable):
            await backend().take_ticket("counter", "key-1")
        spent = time.monotonic() - started
    said = [r for r in caplog.records if r.name == "actions.clients.backend"]
    pauses = [float(m[1]) for r in said if (m := re.search(r"retrying in ([0-9.]+) s", r.getMessage()))]
    floors = [min(0.02 * 2**n, 0.08) for n in range(len(pauses))]
    assert len(pauses) >= 4 and len(flaky.posts("/api/v1/queue/tickets")) == len(pauses) + 1
    # the logged pauses are rounded to 1 ms
    assert all(floor - 0.0005 <= pause <= floor + 0.0205 for pause, floor in zip(pauses, floors, strict=True))
    assert len({round(pause - floor, 3) for pause, floor in zip(pauses, floors, strict=True)}) > 1  # not in step
    # The budget, with room for a loaded machine; a thousand faults' pauses would take over a minute.
    assert spent < 0.5 + 4 and "giving up" in said[-1].getMessage()


async def test_the_numbers_a_filing_needs_are_asked_of_the_vault_as_patiently_as_the_filing(
    flaky: Flaky, domain
) -> None:
    """Slots hold masked forms; the real numbers come from the vault just before filing, through the same restart."""
    channel, sender = conversation(tracker(sender="wx-openid-7"))
    masked_id, masked_phone = await backend().keep_numbers(channel, sender, [YOUNG_ID, "13812345678"])
    flaky.faults = [502, "refused", 503]  # the vault's lookup meets the restart first
    said, _ = await file_case(domain, {**FILING, "id_number": masked_id, "phone": masked_phone})
    assert responses(said)[0] == "utter_case_filed"
    assert len([p for m, p, _ in flaky.attempts if p == "/api/v1/vault/lookups"]) == 4
    async with flaky.app.ctx.db.read() as session:
        filed_for = (await session.execute(select(Resident.id_number, Resident.phone))).one()
    assert tuple(filed_for) == (YOUNG_ID, "13812345678") and await count(flaky.app, Case) == 1


async def test_refusals_and_500s_are_not_retried_and_reads_are_tried_once(flaky: Flaky, domain) -> None:
    bad_id = {**FILING, "id_number": "110105194912310021"}  # wrong check character: 422
    said, _ = await file_case(domain, bad_id)
    assert responses(said) == ["utter_case_not_filed"] and "校验" in said.messages[0]["reason"]
    assert flaky.answered == [422] and len(flaky.posts("/api/v1/cases")) == 1
    flaky.faults = [500]
    said, _ = await file_case(domain)
    assert responses(said) == ["utter_backend_unavailable"] and len(flaky.posts("/api/v1/cases")) == 2
    flaky.faults = [503, 503]
    with pytest.raises(BackendUnavailable):
        await backend().item("residence_permit")
    assert len(flaky.attempts) == 3


async def test_consent_given_before_is_not_asked_again(domain) -> None:
    """A form started again after a failed filing re-validates its answers: the stored consent stands."""
    validate = ValidateFilingForm().validate_proxy_consent
    slots = {"proxy": True, "proxy_consent": "yes", "requested_slot": None}
    dispatcher = CollectingDispatcher()
    again = tracker(text="我要申请", intent="file_case", slots=slots, active_loop="filing_form")
    result = await validate("yes", dispatcher, again, domain)
    assert result == {"proxy_consent": "yes", "form_failures": 0} and responses(dispatcher) == []
    asked = tracker(text="好的", slots={**slots, "requested_slot": "proxy_consent"}, active_loop="filing_form")
    result = await validate("好的", dispatcher, asked, domain)
    assert result["proxy_consent"] == "yes" and responses(dispatcher) == ["utter_proxy_ready"]


async def test_unreachable_database_is_a_503_and_filing_gives_up_in_time(catalog: Catalog, domain) -> None:
    nowhere = f"postgresql://jiujin@127.0.0.1:{free_port()}/jiujin"  # nothing listens: connections are refused
    settings = ActionSettings(
        backend_url=f"http://{TEST_HOST}", write_retry_s=0.3, write_backoff_s=0.01, write_backoff_max_s=0.05
    )
    app = make_app(nowhere, catalog, auto_migrate=False, notifier_enabled=False)
    async with behind_flaky(app, settings) as flaky:
        said, _ = await file_case(domain)
    assert responses(said) == ["utter_backend_unavailable"]
    assert len(flaky.answered) > 1 and set(flaky.answered) == {503}


class Relay:
    """A TCP relay in front of PostgreSQL that can be cut (open connections dropped, new ones closed at once),
    the way a restarting server looks to its clients, and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = False
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()

    def drop(self) -> None:
        """Cut: every open connection is closed, new ones are closed as soon as they arrive."""
        self.cut = True
        for writer in list(self._writers):
            writer.close()

    def restore(self) -> None:
        """PostgreSQL is back: new connections reach it again."""
        self.cut = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.mark.postgres
@pytest.mark.skipif(SKIP_POSTGRES, reason="JIUJIN_SKIP_POSTGRES=1")
async def test_postgres_restart_during_filing_files_one_case(catalog: Catalog, domain) -> None:
    with postgres_database() as url:
        real = make_url(url)
        relay = Relay(real.host or "127.0.0.1", real.port or 5432)
        await relay.start()
        through_relay = real.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
        settings = ActionSettings(
            backend_url=f"http://{TEST_HOST}", write_retry_s=10.0, write_backoff_s=0.05, write_backoff_max_s=0.2
        )
        try:
            async with behind_flaky(make_app(through_relay, catalog, notifier_enabled=False), settings) as flaky:
                await backend().item("residence_permit")  # the pool holds a live connection, which the cut breaks
                relay.drop()
                filing = asyncio.create_task(file_case(domain))
                await eventually(lambda: 503 in flaky.answered, 20, "the filing meeting the cut database")
                assert not filing.done()  # and retrying
                relay.restore()
                said, _ = await asyncio.wait_for(filing, 10)
                assert responses(said)[0] == "utter_case_filed"
                assert 503 in flaky.answered and flaky.answered[-1] == 201
                assert len(set(flaky.posts("/api/v1/cases"))) == 1
                assert await count(flaky.app, Case) == 1
        finally:
            await relay.stop()
