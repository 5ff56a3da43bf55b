"""The hall beyond call-next: pausing a window, transferring a number, no-shows after recalls, the estimated wait,
the board and its live event stream (over a real backend process, as the board page and the devices read it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.catalog.schema import Catalog
from backend.config import Settings
from harness.processes import backend_process, free_port
from security.tokens import bearer_headers
from tests.backend.test_api_queue import call, take
from tests.conftest import Api, make_app, running


async def test_a_paused_window_calls_nobody_until_it_resumes(api: Api) -> None:
    await take(api)
    paused = await api.post("/api/v1/queue/windows/2/pause")
    assert paused.json == {"window": 2, "paused": True}
    refused = await api.post("/api/v1/queue/windows/2/call-next")
    assert refused.status == 409 and refused.json["error"]["code"] == "window_paused"
    assert (await api.get("/api/v1/queue/board")).json["paused"] == [2]
    assert (await api.post("/api/v1/queue/windows/2/resume")).json == {"window": 2, "paused": False}
    assert await call(api, 2) == "A001"


async def test_a_transferred_number_is_called_first_by_its_new_window(api: Api) -> None:
    for _ in range(3):
        await take(api)
    assert await call(api, 1) == "A001"
    moved = await api.post("/api/v1/queue/windows/1/transfer", json={"to": 4})
    assert moved.status == 200 and moved.json["status"] == "waiting"
    assert await call(api, 1) == "A002"  # window 1 goes on with the queue
    assert await call(api, 2) == "A003"  # other windows do not take the transferred number
    assert await call(api, 4) == "A001"  # window 4 calls it before anyone else
    same = await api.post("/api/v1/queue/windows/4/transfer", json={"to": 4})
    assert same.status == 409
    assert (await api.post("/api/v1/queue/windows/3/transfer", json={"to": 4})).status == 404  # nothing called
    assert (await api.post("/api/v1/queue/windows/4/transfer", json={"to": 99})).status == 404  # no such window


async def test_after_two_recalls_an_absent_number_is_a_no_show(api: Api) -> None:
    await take(api)
    await call(api, 1)
    first = await api.post("/api/v1/queue/windows/1/recall")
    second = await api.post("/api/v1/queue/windows/1/recall")
    assert (first.json["recalls"], second.json["recalls"]) == (1, 2)
    third = await api.post("/api/v1/queue/windows/1/recall")
    assert third.json["status"] == "skipped"
    assert (await api.post("/api/v1/queue/windows/1/recall")).status == 404  # nobody at the window now


async def test_a_department_window_calls_its_departments_business_first(database_url: str, catalog: Catalog) -> None:
    async with running(make_app(database_url, catalog, window_departments={6: ("公安",)})) as api:
        await take(api)
        police = await api.post("/api/v1/queue/tickets", json={"category": "A", "department": "公安"})
        assert police.json["department"] == "公安"
        await take(api)
        assert await call(api, 6) == police.json["number"]  # window 6 serves 公安 first
        assert await call(api, 6) == "A001"  # then anyone, so it is never idle
        assert await call(api, 1) == "A003"  # the other windows serve everything in order
        unknown = await api.post("/api/v1/queue/tickets", json={"category": "A", "department": "税务"})
        assert unknown.status == 422


def test_window_departments_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINDOW_DEPARTMENTS", "5=医保,社保; 6=公安")
    assert Settings.from_env().window_departments == {5: ("医保", "社保"), 6: ("公安",)}
    monkeypatch.setenv("WINDOW_DEPARTMENTS", "6=税务")
    with pytest.raises(ValueError, match="WINDOW_DEPARTMENTS"):
        Settings.from_env()


async def test_the_board_shows_windows_next_numbers_and_waiting(api: Api) -> None:
    for category in ("A", "A", "A", "A", "V"):
        await take(api, category)
    await call(api, 3)  # V first
    await call(api, 1)
    board = (await api.get("/api/v1/queue/board")).json
    assert board["calling"] == [{"window": 1, "number": "A001"}, {"window": 3, "number": "V001"}]
    assert board["next"] == {"A": ["A002", "A003", "A004"], "V": []}
    assert board["waiting"] == {"A": 3, "V": 0} and board["paused"] == []


async def test_the_wait_is_estimated_from_the_people_ahead(api: Api) -> None:
    tickets = [await take(api) for _ in range(4)]
    assert tickets[0]["estimated_wait_minutes"] == 0
    # No service measured yet today: 6 minutes a resident, shared by the hall's 6 windows.
    assert tickets[3]["estimated_wait_minutes"] == round(3 * 6 / 6)
    for window in (1, 2, 3, 4, 5):
        await api.post(f"/api/v1/queue/windows/{window}/pause")
    follow = (await api.get("/api/v1/queue/tickets/A004")).json
    assert follow["estimated_wait_minutes"] == 3 * 6  # one window open


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("hall")
    with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log") as url:
        yield url


def _read_events(url: str, headers: dict[str, str], count: int, found: list[dict], ready: threading.Event) -> None:
    with httpx.stream("GET", f"{url}/api/v1/queue/events", headers=headers, timeout=20) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        ready.set()
        for line in response.iter_lines():
            if line.startswith("data:"):
                found.append(json.loads(line[5:]))
                if len(found) >= count:
                    return


def _follow(url: str, count: int, headers: dict[str, str] | None = None) -> tuple[threading.Thread, list[dict]]:
    found: list[dict] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_events, args=(url, headers or {}, count, found, ready), daemon=True)
    reader.start()
    assert ready.wait(10)
    return reader, found


def test_the_event_stream_starts_with_the_board_and_follows_every_change(backend: str) -> None:
    reader, events = _follow(backend, 4)
    httpx.post(
        f"{backend}/api/v1/queue/tickets", headers=bearer_headers("tools"), json={"category": "A", "channel": "wechat"}
    )
    httpx.post(f"{backend}/api/v1/queue/windows/3/call-next", headers=bearer_headers("tools"))
    httpx.post(f"{backend}/api/v1/queue/windows/3/recall", headers=bearer_headers("tools"))
    reader.join(15)
    kinds = [(e["kind"], e["number"], e["window"]) for e in events]
    number = events[1]["number"]
    assert kinds == [("snapshot", None, None), ("taken", number, None), ("called", number, 3), ("recalled", number, 3)]
    assert events[2]["board"]["calling"] == [{"window": 3, "number": number}]
    assert [e["id"] for e in events[1:]] == sorted(e["id"] for e in events[1:])


def test_a_client_that_reconnects_gets_exactly_what_it_missed(backend: str) -> None:
    reader, seen = _follow(backend, 2)
    httpx.post(f"{backend}/api/v1/queue/windows/5/pause", headers=bearer_headers("tools"))
    reader.join(15)
    last = seen[-1]["id"]
    httpx.post(f"{backend}/api/v1/queue/windows/5/resume", headers=bearer_headers("tools"))  # while the client is away
    httpx.post(
        f"{backend}/api/v1/queue/tickets", headers=bearer_headers("tools"), json={"category": "V", "channel": "wechat"}
    )
    reader, missed = _follow(backend, 2, {"Last-Event-ID": str(last)})
    reader.join(15)
    assert [e["kind"] for e in missed] == ["resumed", "taken"] and missed[0]["id"] > last
    bad = httpx.get(f"{backend}/api/v1/queue/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_event_id"


def test_the_board_page_follows_the_event_stream(backend: str) -> None:
    page = httpx.get(f"{backend}/board")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'new EventSource("/api/v1/queue/events")' in page.text and "正在呼叫" in page.text


async def test_a_retried_call_gets_the_same_number_and_calls_nobody_else(api: Api) -> None:
    await take(api)
    await take(api)
    headers = {"Idempotency-Key": "keypad-3-press-17"}
    first = await api.post("/api/v1/queue/windows/3/call-next", headers=headers)
    again = await api.post("/api/v1/queue/windows/3/call-next", headers=headers)
    assert first.json["number"] == again.json["number"] == "A001"
    assert (await api.get("/api/v1/queue/tickets/A002")).json["status"] == "waiting"
    assert await call(api, 3) == "A002"  # a new press (no key, or another) calls the next
