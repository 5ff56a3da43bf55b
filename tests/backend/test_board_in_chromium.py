"""The display board page in a real browser (Debian's Chromium through Playwright): it follows the event stream
live, in large type, and shows what each window calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, expect

from harness.processes import backend_process, free_port
from security.tokens import bearer_headers
from tests.chromium import launched_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("board")
    with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log") as url:
        yield url


def test_the_board_shows_each_call_live_in_large_type(browser: Browser, backend: str, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(f"{backend}/board")
    expect(page.locator("#calling")).to_contain_text("暂无叫号")  # the snapshot arrived
    for category in ("A", "A", "V"):
        httpx.post(
            f"{backend}/api/v1/queue/tickets",
            headers=bearer_headers("tools"),
            json={"category": category, "channel": "counter"},
        )
    httpx.post(f"{backend}/api/v1/queue/windows/2/call-next", headers=bearer_headers("tools"))  # V first
    expect(page.locator("#latest")).to_have_text("请 V001 号到 2 号窗口")
    httpx.post(f"{backend}/api/v1/queue/windows/5/call-next", headers=bearer_headers("tools"))
    expect(page.locator("#latest")).to_have_text("请 A001 号到 5 号窗口")
    expect(page.locator("#calling")).to_contain_text("2 号窗口V001")
    expect(page.locator("#calling")).to_contain_text("5 号窗口A001")
    expect(page.locator("#next-A")).to_have_text("A002")
    expect(page.locator("#waiting")).to_contain_text("综合 1 人")
    httpx.post(f"{backend}/api/v1/queue/windows/6/pause", headers=bearer_headers("tools"))
    expect(page.locator("#paused")).to_contain_text("6 号窗口")
    latest_px = page.locator("#latest").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    calling_px = page.locator("#calling").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert latest_px >= 80 and calling_px >= 50  # read from across the hall
    page.screenshot(path=str(tmp_path / "board.png"))
    assert (tmp_path / "board.png").stat().st_size > 10_000
    page.reload()  # a board switched on again shows the last call still being served
    expect(page.locator("#latest")).to_have_text("请 A001 号到 5 号窗口")
    page.close()


def test_the_clock_shows_the_centres_time_whatever_the_screens_zone(browser: Browser, backend: str) -> None:
    context = browser.new_context(timezone_id="Europe/London")
    page = context.new_page()
    page.goto(f"{backend}/board")
    expect(page.locator("#clock")).not_to_be_empty()
    shown = dt.datetime.strptime(page.locator("#clock").inner_text(), "%H:%M:%S")
    hangzhou = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    apart = abs(
        (shown.hour - hangzhou.hour) * 3600 + (shown.minute - hangzhou.minute) * 60 + shown.second - hangzhou.second
    )
    assert min(apart, 86_400 - apart) <= 5  # not London's time, which is 8 hours off
    context.close()
