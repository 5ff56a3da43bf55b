"""Hall figures: numbers issued per second (and printed on the simulated ticket printer), and the time from a
window's "call next" to the board's update and to the start of the announcement."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from devices.announcer import Announcer
from devices.printer_worker import PrinterWorker, SerialPrinter
from devices.queue_events import QueueEvent, follow
from harness.processes import backend_process, free_port
from security.tokens import bearer_headers
from simulators.devices.printer import PrinterSimulator
from voice.tts import Speaker


def _take(client: httpx.Client) -> None:
    body = {"category": "A", "channel": "counter"}
    client.post("/api/v1/queue/tickets", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}).raise_for_status()


def tickets(backend: str, folder: Path, count: int, in_flight: int = 16) -> dict[str, float]:
    """Numbers taken at the counter, ``in_flight`` at a time; then the same tickets printed one by one."""
    with httpx.Client(base_url=backend, timeout=30, headers=bearer_headers("tools")) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(lambda _: _take(client), range(count)))
        issued_s = time.perf_counter() - started
    with PrinterSimulator(folder / "printed", name="ticket", link=folder / "ticket.tty") as printer:
        worker = PrinterWorker("ticket", SerialPrinter(str(printer.link)), backend)
        started = time.perf_counter()
        printed = 0
        while worker.step() == "printed":
            printed += 1
        printed_s = time.perf_counter() - started
        worker.close()
    return {"issued_per_s": count / issued_s, "printed_per_s": printed / printed_s, "printed": printed}


def call_latency(backend: str, folder: Path, calls: int) -> dict[str, list[float]]:
    """Seconds from sending call-next to the called event reaching a board client, and to the announcement's
    audio being ready to play (the announcer follows the same events)."""
    board: dict[str, float] = {}
    spoken: dict[str, float] = {}
    stop = threading.Event()
    speaker = Speaker()
    announcer = Announcer(speaker if speaker.available() else None, folder / "announcements")

    def board_client() -> None:
        for event in follow(backend, stop):
            if event.calls_someone and event.number:
                board.setdefault(event.number, time.perf_counter())

    def announcing_client() -> None:
        def handle(event: QueueEvent) -> None:
            if event.calls_someone and event.number:
                announcer.handle(event)
                spoken.setdefault(event.number, time.perf_counter())

        for event in follow(backend, stop):
            handle(event)

    threads = [threading.Thread(target=t, daemon=True) for t in (board_client, announcing_client)]
    for thread in threads:
        thread.start()
    time.sleep(1)  # both clients connected
    sent: dict[str, float] = {}
    with httpx.Client(base_url=backend, timeout=30, headers=bearer_headers("tools")) as client:
        for _ in range(calls):
            _take(client)
            started = time.perf_counter()
            number = client.post("/api/v1/queue/windows/1/call-next").json()["number"]
            sent[number] = started
            deadline = time.monotonic() + 30
            while number not in spoken and time.monotonic() < deadline:
                time.sleep(0.01)
    stop.set()
    speaker.close()
    return {
        "board": [board[n] - sent[n] for n in sent if n in board],
        "announcement": [spoken[n] - sent[n] for n in sent if n in spoken],
    }


def run(count: int = 300, calls: int = 20) -> str:
    """Measure and return the report."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log") as backend:
            issued = tickets(backend, folder, count)
            latency = call_latency(backend, folder, calls)
    board, spoken = latency["board"], latency["announcement"]
    return "\n".join(
        [
            "hall (backend on SQLite, simulated ticket printer on a pseudo-terminal)",
            f"numbers issued   {issued['issued_per_s']:.0f} per second (16 at once, each also spooled for printing)",
            f"tickets printed  {issued['printed_per_s']:.1f} per second ({issued['printed']:.0f} through the worker, "
            "status check and process-ID confirmation each)",
            f"call → board     p50 {statistics.median(board) * 1000:.0f} ms  max {max(board) * 1000:.0f} ms "
            f"({len(board)} calls; the same worker wakes its event streams, others' changes arrive within 200 ms)",
            f"call → announce  p50 {statistics.median(spoken) * 1000:.0f} ms  max {max(spoken) * 1000:.0f} ms "
            "(chime and the sentence twice rendered to audio, ready to play)",
        ]
    )
