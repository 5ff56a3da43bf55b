"""A printer worker: takes one printer's jobs from the backend's spool and prints them over a serial port.

Each job goes: check the printer (DLE EOT) → claim → render the job's document (`devices.receipts`) → mark sent →
send, followed by a process-ID request → the printer answers once everything before it is printed → confirm
printed. The claimed job carries its complete document (`printing.documents`): the worker asks nothing else. The
bytes exchanged besides the document are in `devices.printer_protocol`. What can go wrong, and what happens then:

- the printer is offline, out of paper, its cover open or unplugged: no job is claimed until it is ready again;
- it fails during a job (paper runs out, cable pulled): the job goes back to the queue with the reason and is
  printed again, whole, once the printer is ready (the torn-off part was incomplete anyway);
- it stays ready but never answers: the job stays "sent" and staff are asked to look (never printed twice);
- the worker itself dies: a job not yet sent comes back when its lease ends; a sent one waits for staff;
- a job whose document cannot be read is cancelled with the reason, for staff to see (it would block the queue).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from escpos.exceptions import Error as EscposError
from escpos.printer import Serial
from pydantic import ValidationError

from devices import receipts, serial_errors
from devices.printer_protocol import (
    PrinterStatus,
    StatusKind,
    encode_job_id,
    process_id_request,
    process_id_response,
    status_request,
)
from devices.service_token import authorize
from printing.documents import parse_document

log = logging.getLogger(__name__)

PORT_ERRORS = (*serial_errors.PORT_ERRORS, EscposError)
"""A pulled cable, plus python-escpos's own error for a port that no longer opens."""


@dataclass(frozen=True)
class PrinterState:
    """What the printer said about itself: its status bytes, or None when it did not answer."""

    status: PrinterStatus | None

    @property
    def ready(self) -> bool:
        return self.problem is None

    @property
    def problem(self) -> str | None:
        """The reason in the words staff read at the window (None when ready)."""
        if self.status is None:
            return "打印机未连接"
        if self.status.paper_out:
            return "打印机缺纸"
        if self.status.cover_open:
            return "打印机纸仓盖打开"
        if not self.status.online:
            return "打印机离线"
        return None


class EscposSerial(Serial):
    """python-escpos's serial printer with what this worker needs besides its commands: raw bytes both ways, a
    one-byte status answer, and a close that a pulled cable cannot break."""

    def _read(self) -> bytes:
        """A real-time status answer is one byte (python-escpos's own read waits for 16, i.e. its whole timeout)."""
        return self.receive(1)

    def send(self, data: bytes) -> None:
        """Write ``data`` as it is (a rendered document, a process-ID request)."""
        self._raw(data)

    def receive(self, size: int) -> bytes:
        """Up to ``size`` bytes the printer sent, waiting at most the port's timeout."""
        return self.device.read(size)  # type: ignore[union-attr]

    def close(self) -> None:
        """Close the port; a port that is gone already counts as closed, so python-escpos never tries again."""
        try:
            super().close()
        except PORT_ERRORS:
            self.device = False


class SerialPrinter:
    """An ESC/POS printer on a serial port (python-escpos on pyserial), reopened after it was unplugged."""

    def __init__(self, port: str, *, baudrate: int = 9600, timeout_s: float = 1.0) -> None:
        self.port, self.baudrate, self.timeout_s = port, baudrate, timeout_s
        self._printer: EscposSerial | None = None

    def _device(self) -> EscposSerial:
        if self._printer is None:
            printer = EscposSerial(self.port, baudrate=self.baudrate, timeout=self.timeout_s, dsrdtr=False)
            printer.open()  # DeviceNotFoundError naming the port when it does not open
            self._printer = printer
        return self._printer

    def close(self) -> None:
        if self._printer is not None:
            self._printer.close()
            self._printer = None

    def _status(self, kind: StatusKind) -> int | None:
        answer = self._device().query_status(status_request(kind))
        return answer[0] if answer else None

    def state(self) -> PrinterState:
        """Ask with DLE EOT: printer status, offline cause, paper sensor. No answer: not reachable."""
        try:
            answers = [self._status(kind) for kind in StatusKind]
        except PORT_ERRORS as exc:
            log.info("printer on %s not reachable: %s", self.port, type(exc).__name__)
            self.close()
            return PrinterState(None)
        if None in answers:
            self.close()
            return PrinterState(None)
        return PrinterState(PrinterStatus.from_bytes(*answers))  # type: ignore[arg-type]

    def print_document(self, job_id: int, data: bytes, *, within_s: float) -> bool:
        """Send ``data`` and a process-ID request; True once the printer answers that all of it is printed."""
        ident = encode_job_id(job_id)
        device = self._device()
        device.send(data + process_id_request(ident))
        expected = process_id_response(ident)
        received = b""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            received += device.receive(len(expected))
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
        timezone: ZoneInfo = receipts.CENTRE_TIMEZONE,
        print_timeout_s: float = 15.0,
    ) -> None:
        self.name = name
        self.printer = printer
        actor = {"X-Actor": f"printer:{name}"}
        self.backend = httpx.Client(base_url=f"{backend_url}/api/v1", timeout=10, headers=actor, auth=authorize)
        self.timezone = timezone
        self.print_timeout_s = print_timeout_s
        self.problem: str | None = None
        """The printer's current problem, for the board and staff (None when it is fine)."""

    def step(self) -> str:
        """One round: "idle", "printed", "waiting" (printer not ready), "requeued", "unconfirmed" or "refused"."""
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
            data = receipts.render(parse_document(job["document"]), self.timezone)
        except (KeyError, ValidationError) as exc:  # it never becomes printable: it must not hold up the others
            return self._refuse(job_id, f"无法生成打印内容：{type(exc).__name__}")
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

    def _refuse(self, job_id: int, reason: str) -> str:
        log.error("%s printer: job %d cancelled: %s", self.name, job_id, reason)
        body = {"status": "cancelled", "error": reason}
        self.backend.post(f"/print-jobs/{job_id}/status", json=body).raise_for_status()
        return "refused"

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
