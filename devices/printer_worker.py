"""A printer worker: takes one printer's jobs from the backend's spool and prints them over a serial port.

Each job goes: check the printer (DLE EOT) → claim → compose (`devices.receipts`) → mark sent → send, followed by
a process-ID request → the printer answers once everything before it is printed → confirm printed. What can go
wrong, and what happens then:

- the printer is offline, out of paper, its cover open or unplugged: no job is claimed until it is ready again;
- it fails during a job (paper runs out, cable pulled): the job goes back to the queue with the reason and is
  printed again, whole, once the printer is ready (the torn-off part was incomplete anyway);
- it stays ready but never answers: the job stays "sent" and staff are asked to look (never printed twice);
- the worker itself dies: a job not yet sent comes back when its lease ends; a sent one waits for staff.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from escpos.exceptions import Error as EscposError
from escpos.printer import Serial

from devices import receipts, serial_errors
from devices.process_id import encode_job_id, request_bytes, response_bytes
from devices.service_token import authorize

log = logging.getLogger(__name__)

CENTRE_TIMEZONE = ZoneInfo("Asia/Shanghai")
PORT_ERRORS = (*serial_errors.PORT_ERRORS, EscposError)
"""A pulled cable, plus python-escpos's own error for a port that no longer opens."""
STATUS_REQUEST = b"\x10\x04"  # DLE EOT n: 1 printer, 2 offline cause, 4 paper sensor; one status byte back
COVER_OPEN = 0x04
PAPER_END_STOP = 0x20
ONLINE_FLAG = 0x08
PAPER_END = 0x60
SNAPSHOT_FIELDS = ("missing", "status_reason", "accepted_at")
"""Case fields a job may carry as they were at the change it reports; they win over the case's current ones."""


@dataclass(frozen=True)
class PrinterState:
    """What the printer said about itself."""

    reachable: bool
    online: bool = False
    cover_open: bool = False
    paper_out: bool = False

    @property
    def ready(self) -> bool:
        return self.reachable and self.online and not self.cover_open and not self.paper_out

    @property
    def problem(self) -> str | None:
        """The reason in the words staff read at the window (None when ready)."""
        if not self.reachable:
            return "打印机未连接"
        if self.paper_out:
            return "打印机缺纸"
        if self.cover_open:
            return "打印机纸仓盖打开"
        if not self.online:
            return "打印机离线"
        return None


class SerialPrinter:
    """An ESC/POS printer on a serial port (python-escpos on pyserial), reopened after it was unplugged."""

    def __init__(self, port: str, *, baudrate: int = 9600, timeout_s: float = 1.0) -> None:
        self.port, self.baudrate, self.timeout_s = port, baudrate, timeout_s
        self._printer: Serial | None = None

    def _device(self) -> Serial:
        if self._printer is None:
            printer = Serial(self.port, baudrate=self.baudrate, timeout=self.timeout_s, dsrdtr=False)
            printer.open()
            self._printer = printer
        return self._printer

    def close(self) -> None:
        if self._printer is not None:
            with contextlib.suppress(*PORT_ERRORS):
                self._printer.close()
            self._printer._device = False  # closed or gone: python-escpos must not try again at exit
            self._printer = None

    def _status(self, n: int) -> int | None:
        """One DLE EOT query; the printer answers one byte (python-escpos's own query waits for 16)."""
        device = self._device()
        device._raw(STATUS_REQUEST + bytes([n]))
        answer = device.device.read(1)
        return answer[0] if answer else None

    def state(self) -> PrinterState:
        """Ask with DLE EOT: printer status, offline cause, paper sensor. No answer: not reachable."""
        try:
            online, cause, paper = self._status(1), self._status(2), self._status(4)
        except PORT_ERRORS as exc:
            log.info("printer on %s not reachable: %s", self.port, type(exc).__name__)
            self.close()
            return PrinterState(reachable=False)
        if online is None or cause is None or paper is None:
            self.close()
            return PrinterState(reachable=False)
        return PrinterState(
            reachable=True,
            online=not online & ONLINE_FLAG,
            cover_open=bool(cause & COVER_OPEN),
            paper_out=bool(paper & PAPER_END == PAPER_END or cause & PAPER_END_STOP),
        )

    def print_document(self, job_id: int, data: bytes, *, within_s: float) -> bool:
        """Send ``data`` and a process-ID request; True once the printer answers that all of it is printed."""
        ident = encode_job_id(job_id)
        device = self._device()
        device._raw(data + request_bytes(ident))
        expected = response_bytes(ident)
        received = b""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            received += device.device.read(len(expected))
            if expected in received:
                return True
        return False


class PrinterWorker:
    """Prints the jobs of one printer (``name``: "ticket" or "receipt") from the backend at ``backend_url``."""

    def __init__(
        self,
        name: str,
        printer: SerialPrinter,
        backend_url: str,
        *,
        follow_url: str,
        timezone: ZoneInfo = CENTRE_TIMEZONE,
        print_timeout_s: float = 15.0,
    ) -> None:
        self.name = name
        self.printer = printer
        actor = {"X-Actor": f"printer:{name}"}
        self.backend = httpx.Client(base_url=f"{backend_url}/api/v1", timeout=10, headers=actor, auth=authorize)
        self.follow_url = follow_url.rstrip("/")
        self.timezone = timezone
        self.print_timeout_s = print_timeout_s
        self.problem: str | None = None
        """The printer's current problem, for the board and staff (None when it is fine)."""

    def step(self) -> str:
        """One round: "idle", "printed", "waiting" (printer not ready), "requeued" or "unconfirmed"."""
        state = self.printer.state()
        self._report(state.problem)
        if not state.ready:
            return "waiting"
        response = self.backend.post("/print-jobs/claim", json={"printer": self.name})
        response.raise_for_status()
        if response.status_code == 204:
            return "idle"
        return self._print(response.json())

    def _print(self, job: dict[str, Any]) -> str:
        job_id = int(job["id"])
        try:
            data = self.compose(job)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            return self._requeue(job_id, f"无法生成打印内容：{type(exc).__name__}")
        self.backend.post(f"/print-jobs/{job_id}/sent").raise_for_status()
        try:
            printed = self.printer.print_document(job_id, data, within_s=self.print_timeout_s)
        except PORT_ERRORS:
            self.printer.close()
            return self._requeue(job_id, "打印中断：打印机未连接")
        if printed:
            self.backend.post(f"/print-jobs/{job_id}/status", json={"status": "printed"}).raise_for_status()
            log.info("%s printer: job %d printed", self.name, job_id)
            return "printed"
        state = self.printer.state()
        if not state.ready:  # it stopped mid-job: the copy is incomplete, print it again once ready
            self._report(state.problem)
            return self._requeue(job_id, f"打印中断：{state.problem}")
        log.error("%s printer: job %d sent but never confirmed; staff should check the printer", self.name, job_id)
        return "unconfirmed"

    def compose(self, job: dict[str, Any]) -> bytes:
        """The job's document as ESC/POS bytes."""
        now = dt.datetime.now(self.timezone)
        payload = job.get("payload") or {}
        if job["kind"] == "ticket":
            day, number = payload.get("service_day", now.date().isoformat()), payload["number"]
            return receipts.ticket(payload, f"{self.follow_url}/ticket/{day}/{number}", now)
        case = self.backend.get(f"/cases/{job['case_number']}")
        case.raise_for_status()
        details = case.json() | {name: payload[name] for name in SNAPSHOT_FIELDS if name in payload}
        if job["kind"] == "receipt":
            page = details["follow_path"].removeprefix("/follow")  # signed by the backend
            return receipts.acceptance_receipt(details, f"{self.follow_url}{page}", now)
        if job["kind"] == "correction_notice":
            return receipts.correction_notice(details, now)
        if job["kind"] == "pickup_notice":
            return receipts.pickup_notice(details, now)
        if job["kind"] == "rejection_notice":
            return receipts.rejection_notice(details, now)
        if job["kind"] == "withdrawal_notice":
            return receipts.withdrawal_notice(details, now)
        raise ValueError(f"unknown document kind {job['kind']!r}")

    def _requeue(self, job_id: int, reason: str) -> str:
        log.warning("%s printer: job %d back to the queue: %s", self.name, job_id, reason)
        body = {"status": "queued", "error": reason}
        self.backend.post(f"/print-jobs/{job_id}/status", json=body).raise_for_status()
        return "requeued"

    def _report(self, problem: str | None) -> None:
        if problem != self.problem:
            if problem:
                log.warning("%s printer: %s", self.name, problem)
            else:
                log.info("%s printer: ready", self.name)
            self.problem = problem

    def run(self, stop: threading.Event, *, poll_s: float = 0.5) -> None:
        """Print until ``stop`` is set; a round that fails (backend away) is logged and tried again."""
        while not stop.is_set():
            try:
                outcome = self.step()
            except httpx.HTTPError as exc:
                log.warning("%s printer: backend unavailable (%s)", self.name, type(exc).__name__)
                outcome = "waiting"
            if outcome in {"idle", "waiting"}:
                stop.wait(poll_s)
        self.close()

    def close(self) -> None:
        self.printer.close()
        self.backend.close()
