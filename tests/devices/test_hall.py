"""The hall as `make run` starts it: the backend and `python -m devices` (printer and keypad simulators on
pseudo-terminals, their drivers, the simulators' control) as separate processes; a number is taken, printed,
and called from a window's keypad."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.config import PROJECT_ROOT
from backend.testing import backend_process, free_port
from security.tokens import bearer_headers
from tests.waiting import wait_for


@dataclass(frozen=True)
class Hall:
    backend: str
    control: str
    folder: Path


@pytest.fixture(scope="module")
def hall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hall]:
    folder = tmp_path_factory.mktemp("hall")
    control_port = free_port()
    with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log") as backend:
        command = [sys.executable, "-m", "devices", "--backend", backend, "--folder", str(folder)]
        command += ["--control-port", str(control_port)]
        with (folder / "devices.log").open("wb") as log:
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=log, stderr=log)
        control = f"http://127.0.0.1:{control_port}"
        try:
            wait_for(lambda: _answers(f"{control}/health"), what="the devices' control")
            yield Hall(backend, control, folder)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0, (folder / "devices.log").read_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _take_number(hall: Hall) -> dict:
    body = {"category": "A", "channel": "counter"}
    headers = {"Idempotency-Key": uuid.uuid4().hex} | bearer_headers("tools")
    return httpx.post(f"{hall.backend}/api/v1/queue/tickets", json=body, headers=headers).json()


def test_a_number_taken_at_the_counter_is_printed_and_called_from_a_keypad(hall: Hall) -> None:
    ticket = _take_number(hall)
    jobs = httpx.get(
        f"{hall.backend}/api/v1/print-jobs", params={"printer": "ticket"}, headers=bearer_headers("tools")
    ).json()
    (job,) = [j for j in jobs if j["payload"]["number"] == ticket["number"]]
    printed = hall.folder / "printer" / f"{job['id']}.txt"
    wait_for(printed.exists, what="the ticket printed")
    assert ticket["number"] in printed.read_text(encoding="utf-8")
    assert (hall.folder / "printer" / f"{job['id']}.png").exists()

    assert httpx.post(f"{hall.control}/keypads/3/N").status_code == 202  # 下一位 at window 3
    shown = wait_for(lambda: httpx.get(f"{hall.control}/keypads/3").json()["display"], what="the keypad's display")
    assert shown == ticket["number"]
    called = httpx.get(
        f"{hall.backend}/api/v1/queue/tickets/{ticket['number']}", headers=bearer_headers("tools")
    ).json()
    assert (called["status"], called["window"]) == ("called", 3)


def test_a_call_from_a_keypad_reaches_the_board_the_led_board_and_the_announcement(hall: Hall) -> None:
    ticket = _take_number(hall)
    httpx.post(f"{hall.control}/keypads/1/N")
    wait_for(lambda: httpx.get(f"{hall.control}/keypads/1").json()["display"] == ticket["number"], what="called")
    board = httpx.get(f"{hall.backend}/api/v1/queue/board").json()
    assert {"window": 1, "number": ticket["number"]} in board["calling"]
    led = hall.folder / "led-board.txt"
    wait_for(
        lambda: led.exists() and f"请 {ticket['number']} 到 1号窗口" in led.read_text(encoding="utf-8"), what="LED"
    )
    spoken = wait_for(
        lambda: [p for p in (hall.folder / "announcements").glob(f"*-{ticket['number']}.wav")], what="announcement"
    )
    with wave.open(str(spoken[0])) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds > 6  # a chime and the sentence twice


def test_a_printer_out_of_paper_prints_after_refilling(hall: Hall) -> None:
    assert httpx.post(f"{hall.control}/printers/ticket/paper-out").status_code == 200
    ticket = _take_number(hall)
    time.sleep(1.5)  # the worker looks, finds no paper, and waits
    queued = {"printer": "ticket", "status": "queued"}
    jobs = httpx.get(f"{hall.backend}/api/v1/print-jobs", params=queued, headers=bearer_headers("tools")).json()
    (job,) = [j for j in jobs if j["payload"]["number"] == ticket["number"]]  # waiting in the spool
    httpx.post(f"{hall.control}/printers/ticket/refill")
    wait_for(
        lambda: (
            httpx.get(f"{hall.backend}/api/v1/print-jobs/{job['id']}", headers=bearer_headers("tools")).json()["status"]
            == "printed"
        ),
        what="printed after refilling",
    )
