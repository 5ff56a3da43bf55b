"""The window keypads against the real backend (`python -m backend` on SQLite): what the keypad shows must be what
the window has at the backend, whatever the driver remembers or was told by the fake backend of test_keypads.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from harness.processes import backend_process, free_port
from security.tokens import bearer_headers
from simulators.devices.keypad import KeypadSimulator
from tests.devices.conftest import running_bus

WINDOWS = 6


@pytest.fixture(scope="module")
def backend_process_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One backend process for the module: it takes seconds to start."""
    folder = tmp_path_factory.mktemp("keypads-backend")
    env = {"WINDOW_COUNT": str(WINDOWS), "QUEUE_MAX_RECALLS": "2"}
    with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log", env=env) as url:
        yield url


@pytest.fixture
def backend(backend_process_url: str) -> str:
    """The backend with every window calling and nobody waiting (what a test before left is called at the last
    window, which the tests do not use)."""
    for window in range(1, WINDOWS + 1):
        window_action(backend_process_url, window, "resume")
    last_window = f"{backend_process_url}/api/v1/queue/windows/{WINDOWS}/call-next"
    while (called := httpx.post(last_window, headers=bearer_headers("tools"))).status_code == 200:
        pass
    assert called.status_code == 404, called.text  # nobody waits
    return backend_process_url


def take_number(backend: str) -> str:
    """A new 综合 number; the queue was empty before it, so the next 下一位 anywhere calls it."""
    assert httpx.get(f"{backend}/api/v1/queue/board").json()["waiting"] == {"A": 0, "V": 0}
    body = {"category": "A", "channel": "wechat"}
    headers = {"Idempotency-Key": uuid.uuid4().hex} | bearer_headers("tools")
    response = httpx.post(f"{backend}/api/v1/queue/tickets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["number"]


def window_action(backend: str, window: int, action: str) -> dict:
    """What the staff console or another API client does at a window."""
    headers = {"X-Actor": "console:admin"} | bearer_headers("tools")
    response = httpx.post(f"{backend}/api/v1/queue/windows/{window}/{action}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def paused_windows(backend: str) -> list[int]:
    return httpx.get(f"{backend}/api/v1/queue/board").json()["paused"]


def ticket(backend: str, number: str) -> dict:
    return httpx.get(f"{backend}/api/v1/queue/tickets/{number}", headers=bearer_headers("tools")).json()


def press(keypads: KeypadSimulator, window: int, key: str, *, target: int | None = None, resend: bool = False) -> str:
    """Press a key and wait for its answer; what the keypad shows then."""
    answered = len(keypads.wait_acks(window, 0))
    keypads.press(window, key, target, resend=resend)
    keypads.wait_acks(window, answered + 1, timeout=5)
    shown = keypads.display(window)
    assert shown is not None
    return shown


def test_a_recall_that_makes_a_no_show_clears_the_display(keypads: KeypadSimulator, backend: str) -> None:
    number = take_number(backend)
    with running_bus(keypads, backend):
        assert press(keypads, 1, "下一位") == number
        assert [press(keypads, 1, "重呼") for _ in range(2)] == [number, number]
        assert press(keypads, 1, "重呼") == "----"  # the third recall: a no-show, nobody is called at window 1
        assert ticket(backend, number)["status"] == "skipped"
        assert press(keypads, 1, "重呼") == "----"


def test_next_at_a_paused_window_shows_paus_and_other_refusals_err(keypads: KeypadSimulator, backend: str) -> None:
    number = take_number(backend)
    window_action(backend, 2, "pause")  # at the console
    with running_bus(keypads, backend):
        assert press(keypads, 2, "下一位") == "PAUS"
        assert ticket(backend, number)["status"] == "waiting"
        assert press(keypads, 2, "转窗口", target=9) == "ERR "  # the backend has no window 9
        window_action(backend, 2, "resume")
        assert press(keypads, 2, "下一位") == number


def test_pause_follows_a_change_made_at_the_console(keypads: KeypadSimulator, backend: str) -> None:
    number = take_number(backend)
    with running_bus(keypads, backend):
        assert press(keypads, 3, "下一位") == number
        window_action(backend, 3, "pause")  # staff paused window 3 at the console
        assert press(keypads, 3, "暂停") == number  # so P resumes it
        assert paused_windows(backend) == []
        assert press(keypads, 3, "暂停") == "PAUS"
        window_action(backend, 3, "resume")
        assert press(keypads, 3, "暂停") == "PAUS"  # resumed at the console: P pauses again
        assert paused_windows(backend) == [3]
        window_action(backend, 3, "resume")


def test_pause_survives_a_driver_restart(keypads: KeypadSimulator, backend: str) -> None:
    number = take_number(backend)
    with running_bus(keypads, backend):
        assert press(keypads, 4, "下一位") == number
        assert press(keypads, 4, "暂停") == "PAUS"
    with running_bus(keypads, backend):  # the driver restarted: it remembers nothing, the backend does
        assert press(keypads, 4, "暂停") == number
        assert paused_windows(backend) == []


def test_a_resent_pause_press_toggles_once(keypads: KeypadSimulator, backend: str) -> None:
    with running_bus(keypads, backend) as bus:
        assert press(keypads, 5, "暂停") == "PAUS"
        assert press(keypads, 5, "暂停", resend=True) == "PAUS"  # the keypad missed the answer
        assert paused_windows(backend) == [5] and bus.handled == 1 and bus.resends == 1
        assert press(keypads, 5, "暂停") == "----"  # a new press: nobody is called at window 5
        assert paused_windows(backend) == []
