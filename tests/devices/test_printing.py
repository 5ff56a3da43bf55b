"""Printing for real: the backend's spool (a backend process), the printer worker on a serial port, and the printer
simulator on a pseudo-terminal speaking ESC/POS; the GB18030 bytes of a real receipt."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from backend.testing import backend_process, free_port
from devices import receipts
from devices.printer_sim import PrinterSimulator
from devices.printer_worker import PrinterWorker, SerialPrinter
from tests.conftest import case_body

NOW = dt.datetime(2026, 11, 26, 9, 30)


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("printing")
    with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log") as url:
        yield url


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[PrinterSimulator]:
    with PrinterSimulator(tmp_path / "printed", name="ticket", link=tmp_path / "ticket.tty") as simulator:
        yield simulator


@contextmanager
def _worker(backend: str, printer: PrinterSimulator, name: str = "ticket") -> Iterator[PrinterWorker]:
    port = SerialPrinter(str(printer.link), timeout_s=0.5)  # the stable name, like /dev/serial/by-id/…
    worker = PrinterWorker(name, port, backend, follow_url="https://jiujin.example/follow", print_timeout_s=1.0)
    try:
        yield worker
    finally:
        worker.close()


def _take_number(backend: str) -> dict:
    body = {"category": "A", "channel": "counter"}
    response = httpx.post(f"{backend}/api/v1/queue/tickets", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code in (200, 201), response.text
    return response.json()


def _job_of(backend: str, printer: str, status: str) -> list[dict]:
    return httpx.get(f"{backend}/api/v1/print-jobs", params={"printer": printer, "status": status}).json()


def _drain(worker: PrinterWorker) -> None:
    while worker.step() not in {"idle", "waiting"}:
        pass


def test_a_number_taken_at_the_counter_comes_out_of_the_ticket_printer(backend: str, printer: PrinterSimulator) -> None:
    with _worker(backend, printer) as worker:
        _drain(worker)  # earlier tests' tickets
        ticket = _take_number(backend)
        (job,) = _job_of(backend, "ticket", "queued")
        assert worker.step() == "printed" and worker.step() == "idle"
        document = printer.wait_printed(job["id"], timeout=5)
        assert ticket["number"] in document.text and "排队取号" in document.text and "综合窗口" in document.text
        assert f"您前面还有 {ticket['ahead']} 人" in document.text
        assert "[QR] https://jiujin.example/follow/ticket/" in document.text
        assert document.png_path.exists() and document.png_path.stat().st_size > 2000
        assert httpx.get(f"{backend}/api/v1/print-jobs/{job['id']}").json()["status"] == "printed"


def test_out_of_paper_nothing_is_claimed_and_after_refilling_it_prints_once(
    backend: str, printer: PrinterSimulator
) -> None:
    with _worker(backend, printer) as worker:
        _drain(worker)
        printer.paper_out()
        _take_number(backend)
        assert worker.step() == "waiting" and worker.problem == "打印机缺纸"
        (job,) = _job_of(backend, "ticket", "queued")  # still waiting in the spool
        printer.refill()
        assert worker.step() == "printed" and worker.problem is None
        assert [d.job_id for d in printer.printed].count(job["id"]) == 1


def test_paper_running_out_mid_job_reprints_the_whole_job_after_refilling(
    backend: str, printer: PrinterSimulator
) -> None:
    with _worker(backend, printer) as worker:
        _drain(worker)
        _take_number(backend)
        send = worker.printer.print_document

        def paper_runs_out(job_id: int, data: bytes, *, within_s: float) -> bool:
            printer.paper_out()  # the roll ends as the job starts: the printer stops and never answers
            return send(job_id, data, within_s=within_s)

        worker.printer.print_document = paper_runs_out  # type: ignore[method-assign]
        assert worker.step() == "requeued"
        (job,) = _job_of(backend, "ticket", "queued")
        assert job["last_error"] == "打印中断：打印机缺纸" and job["attempts"] == 1
        worker.printer.print_document = send  # type: ignore[method-assign]
        printer.refill()
        assert worker.step() == "printed"
        assert [d.job_id for d in printer.printed] == [job["id"]]
        assert httpx.get(f"{backend}/api/v1/print-jobs/{job['id']}").json()["attempts"] == 2


def test_an_unplugged_printer_waits_and_prints_when_plugged_back(backend: str, printer: PrinterSimulator) -> None:
    with _worker(backend, printer) as worker:
        _drain(worker)
        printer.unplug()
        _take_number(backend)
        assert worker.step() == "waiting" and worker.problem == "打印机未连接"
        printer.replug()
        assert worker.step() == "printed" and worker.problem is None


def test_the_acceptance_receipt_lists_everything_and_reaches_the_receipt_printer(backend: str, tmp_path: Path) -> None:
    filed = httpx.post(f"{backend}/api/v1/cases", json=case_body()).json()
    missing = [m["id"] for m in filed["materials"] if m["status"] != "looked_up"][:2]
    accepted = httpx.post(
        f"{backend}/api/v1/cases/{filed['case_number']}/transitions", json={"to": "accepted", "missing": missing}
    ).json()
    job = httpx.post(
        f"{backend}/api/v1/print-jobs", json={"kind": "receipt", "case_number": filed["case_number"]}
    ).json()
    simulator = PrinterSimulator(tmp_path / "receipts", name="receipt", link=tmp_path / "receipt.tty")
    with simulator, _worker(backend, simulator, name="receipt") as worker:
        while worker.step() == "printed":
            pass
        document = simulator.wait_printed(job["id"], timeout=5)
    assert "受理回执" in document.text and filed["case_number"] in document.text
    assert "请补齐以下材料（一次告知）：" in document.text
    assert all(name in document.text for name in accepted["missing"])
    assert accepted["resident_id_number"] in document.text and case_body()["resident"]["id_number"] not in document.text


def test_a_receipt_is_gb18030_in_the_printers_chinese_mode() -> None:
    case = {
        "case_number": "JJ-20261126-0007",
        "item_name": "浙江省居住证申领",
        "resident_name": "王秀英",
        "resident_id_number": "330106********121X",
        "materials": [{"name": "居民身份证", "status": "received"}, {"name": "户口信息", "status": "looked_up"}],
        "missing": ["租房合同", "居住登记凭证"],
        "immediate": False,
        "deadline": "2026-12-10",
    }
    data = receipts.acceptance_receipt(case, "https://jiujin.example/follow/case/JJ-20261126-0007", NOW)
    assert data.startswith(b"\x1b@\x1c&")  # initialise, then Chinese mode
    assert "受理回执".encode("gb18030") in data and "受理回执".encode() not in data
    assert "1. 租房合同\n".encode("gb18030") in data and "2. 居住登记凭证\n".encode("gb18030") in data
    assert "承诺件：2026年12月10日前办结。".encode("gb18030") in data
    assert b"\x1d(k" in data and data.endswith(b"\x1dV\x00")  # a native QR code; the cut last
