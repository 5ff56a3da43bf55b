"""The hall as `make run` starts it: the backend, `python -m simulators.devices` (printer and keypad simulators on
pseudo-terminals, their control) and `python -m devices` (their drivers) as separate processes; a number is taken,
printed, and called from a window's keypad."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.config import PROJECT_ROOT
from devices.ports import simulated_ports
from harness.processes import backend_process, free_port, service_process
from security.tokens import bearer_headers
from stack.commands import device_simulators, devices
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
    control = f"http://127.0.0.1:{control_port}"
    simulators = [*device_simulators(folder, control_port)]
    ports = simulated_ports({}, folder)
    with (
        backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log") as backend,
        service_process(simulators, env={}, health_url=f"{control}/health", log=folder / "simulators.log"),
    ):
        command = devices(backend, folder)
        with (folder / "devices.log").open("wb") as log:
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=os.environ | ports, stdout=log, stderr=log)
        try:
            yield Hall(backend, control, folder)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0, (folder / "devices.log").read_text()


def _take_number(hall: Hall) -> dict:
    body = {"category": "A", "channel": "counter"}
    headers = {"Idempotency-Key": uuid.uuid4().hex} | bearer_headers("tools")
    return httpx.post(f"{hall.backend}/api/v1/queue/tickets", json=body, headers=headers).json()


def test_a_number_taken_at_the_counter_is_printed_and_called_from_a_keypad(hall: Hall) -> None:
    ticket = _take_number(hall)
    jobs = httpx.get(
        f"{hall.backend}/api/v1/print-jobs", params={"printer": "ticket"}, headers=bearer_headers("tools")
    ).json()
    (job,) = [j for j in jobs if j["document"]["number"] == ticket["number"]]
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


def _reported(hall: Hall, problem: str) -> int:
    """How often the ticket printer's worker has logged ``problem`` (it logs each change of the printer's state)."""
    log = (hall.folder / "devices.log").read_text(encoding="utf-8", errors="replace")
    return log.count(f"ticket printer: {problem}")


def test_a_printer_out_of_paper_prints_after_refilling(hall: Hall) -> None:
    printer = f"{hall.control}/printers/ticket"
    cover_open, out_of_paper = _reported(hall, "打印机纸仓盖打开"), _reported(hall, "打印机缺纸")
    assert httpx.post(f"{printer}/open-cover").status_code == 200
    wait_for(lambda: _reported(hall, "打印机纸仓盖打开") > cover_open, what="the worker finding the cover open")
    ticket = _take_number(hall)
    assert httpx.post(f"{printer}/paper-out").status_code == 200
    assert httpx.post(f"{printer}/close-cover").status_code == 200
    # The worker looks again, with the number in the spool, finds no paper, and waits.
    wait_for(lambda: _reported(hall, "打印机缺纸") > out_of_paper, what="the worker finding no paper")
    query = {"printer": "ticket", "limit": 200}
    jobs = httpx.get(f"{hall.backend}/api/v1/print-jobs", params=query, headers=bearer_headers("tools")).json()
    (job,) = [j for j in jobs if j["document"]["number"] == ticket["number"]]
    assert (job["status"], job["attempts"]) == ("queued", 0)  # waiting in the spool, never claimed
    httpx.post(f"{printer}/refill")
    wait_for(
        lambda: (
            httpx.get(f"{hall.backend}/api/v1/print-jobs/{job['id']}", headers=bearer_headers("tools")).json()["status"]
            == "printed"
        ),
        what="printed after refilling",
    )
