"""Printing for real: the backend's spool (a backend process), the printer worker on a serial port, and the printer
simulator on a pseudo-terminal speaking ESC/POS; the notices a case's status changes spool on the receipt printer;
the GB18030 bytes of a real receipt and of the rejection and withdrawal notices."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from devices import receipts
from devices.printer_worker import PrinterWorker, SerialPrinter
from harness.processes import backend_process, free_port
from printing.documents import AcceptanceReceipt, RejectionNotice, WithdrawalNotice
from security.tokens import bearer_headers
from simulators.devices.escpos_decode import EscPosDecoder, Text
from simulators.devices.printer import PrinterSimulator
from tests.conftest import case_body

NOW = dt.datetime(2026, 11, 26, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
FOLLOW_URL = "https://jiujin.example/follow"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("printing")
    # Without WeChat, the backend spools a ticket with its page (at FOLLOW_URL) as its QR code.
    env = {"FOLLOW_URL": FOLLOW_URL, "WECHAT_APPID": ""}
    with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log", env=env) as url:
        yield url


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[PrinterSimulator]:
    with PrinterSimulator(tmp_path / "printed", name="ticket", link=tmp_path / "ticket.tty") as simulator:
        yield simulator


@contextmanager
def _worker(backend: str, printer: PrinterSimulator, name: str = "ticket") -> Iterator[PrinterWorker]:
    port = SerialPrinter(str(printer.link), timeout_s=0.5)  # the stable name, like /dev/serial/by-id/…
    worker = PrinterWorker(name, port, backend, print_timeout_s=1.0)
    try:
        yield worker
    finally:
        worker.close()


def _take_number(backend: str) -> dict:
    body = {"category": "A", "channel": "counter"}
    response = httpx.post(
        f"{backend}/api/v1/queue/tickets",
        json=body,
        headers={"Idempotency-Key": uuid.uuid4().hex} | bearer_headers("tools"),
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def _job_of(backend: str, printer: str, status: str) -> list[dict]:
    return httpx.get(
        f"{backend}/api/v1/print-jobs", headers=bearer_headers("tools"), params={"printer": printer, "status": status}
    ).json()


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
        assert f"[QR] {FOLLOW_URL}/ticket/" in document.text and "扫码查看排队进度" in document.text
        assert "提醒" not in document.text  # no WeChat code: no reminder promised
        assert document.png_path.exists() and document.png_path.stat().st_size > 2000
        assert (
            httpx.get(f"{backend}/api/v1/print-jobs/{job['id']}", headers=bearer_headers("tools")).json()["status"]
            == "printed"
        )


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
        assert (
            httpx.get(f"{backend}/api/v1/print-jobs/{job['id']}", headers=bearer_headers("tools")).json()["attempts"]
            == 2
        )


def test_an_unplugged_printer_waits_and_prints_when_plugged_back(backend: str, printer: PrinterSimulator) -> None:
    with _worker(backend, printer) as worker:
        _drain(worker)
        printer.unplug()
        _take_number(backend)
        assert worker.step() == "waiting" and worker.problem == "打印机未连接"
        printer.replug()
        assert worker.step() == "printed" and worker.problem is None


def _move(backend: str, number: str, to: str, **extra: object) -> dict:
    response = httpx.post(
        f"{backend}/api/v1/cases/{number}/transitions", headers=bearer_headers("tools"), json={"to": to, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _spooled(backend: str, number: str) -> list[dict]:
    """The jobs about case ``number`` on the receipt printer, oldest first."""
    listed = httpx.get(
        f"{backend}/api/v1/print-jobs", headers=bearer_headers("tools"), params={"printer": "receipt", "limit": 200}
    ).json()
    return [job for job in listed if job["case_number"] == number]


def _print_all(backend: str, folder: Path, *job_ids: int) -> list:
    """Print everything queued for the receipt printer; the documents of ``job_ids``."""
    simulator = PrinterSimulator(folder, name="receipt", link=folder.with_suffix(".tty"))
    with simulator, _worker(backend, simulator, name="receipt") as worker:
        while worker.step() == "printed":
            pass
        return [simulator.wait_printed(job_id, timeout=5) for job_id in job_ids]


def test_the_acceptance_receipt_lists_everything_and_reaches_the_receipt_printer(backend: str, tmp_path: Path) -> None:
    filed = httpx.post(f"{backend}/api/v1/cases", headers=bearer_headers("tools"), json=case_body()).json()
    missing = [m["id"] for m in filed["materials"] if m["status"] != "looked_up"][:2]
    accepted = _move(backend, filed["case_number"], "accepted", missing=missing)
    (job,) = _spooled(backend, filed["case_number"])  # spooled by the acceptance itself
    assert job["kind"] == "receipt"
    assert job["document"]["missing"] == accepted["missing"]  # as told at acceptance, whenever it prints
    (document,) = _print_all(backend, tmp_path / "receipts", job["id"])
    assert "受理回执" in document.text and filed["case_number"] in document.text
    assert "请补齐以下材料（一次告知）：" in document.text
    assert all(name in document.text for name in accepted["missing"])
    assert accepted["resident_id_number"] in document.text and case_body()["resident"]["id_number"] not in document.text
    assert f"[QR] {FOLLOW_URL}/case/{filed['case_number']}?k=" in document.text  # the backend's signed link
    assert f"查询码：{accepted['receipt_code']}" in document.text


RESIDENT = {"resident_name": "王秀英", "resident_id_number": "330106********121X"}


def _receipt(number: str, **fields: object) -> AcceptanceReceipt:
    defaults = {"issued_at": NOW, "accepted_at": NOW, "immediate": False, "receipt_code": "042917"}
    link = f"https://jiujin.example/follow/case/{number}?k=0123456789abcdef0123"
    return AcceptanceReceipt(
        **(defaults | fields), case_number=number, item_name="浙江省居住证申领", **RESIDENT, follow_url=link
    )


def test_a_receipt_is_gb18030_in_the_printers_chinese_mode() -> None:
    receipt = _receipt(
        "JJ-20261126-0007",
        received=("居民身份证",),
        looked_up=("户口信息",),
        missing=("租房合同", "居住登记凭证"),
        deadline=dt.date(2026, 12, 10),
    )
    data = receipts.render(receipt)
    assert data.startswith(b"\x1b@\x1c&")  # initialise, then Chinese mode
    assert "受理回执".encode("gb18030") in data and "受理回执".encode() not in data
    assert "1. 租房合同\n".encode("gb18030") in data and "2. 居住登记凭证\n".encode("gb18030") in data
    assert "承诺件：2026年12月10日前办结。".encode("gb18030") in data
    assert b"\x1d(k" in data and data.endswith(b"\x1dV\x00")  # a native QR code; the cut last


def test_a_receipt_printed_late_gives_the_time_of_acceptance_in_the_centres_time() -> None:
    # Accepted at 09:05 in Hangzhou (01:05 UTC); the printer was out of paper until 11:00.
    receipt = _receipt("JJ-20261126-0008", accepted_at=dt.datetime(2026, 11, 26, 1, 5, tzinfo=dt.UTC))
    data = receipts.render(receipt.model_copy(update={"issued_at": NOW.replace(hour=11, minute=0)}))
    assert "2026-11-26 09:05".encode("gb18030") in data and b"01:05" not in data
    assert "查询码：042917".encode("gb18030") in data


def test_a_rejection_and_a_withdrawal_come_out_of_the_receipt_printer_with_the_reason(
    backend: str, tmp_path: Path
) -> None:
    rejected = httpx.post(f"{backend}/api/v1/cases", headers=bearer_headers("tools"), json=case_body()).json()[
        "case_number"
    ]
    _move(backend, rejected, "rejected", reason="户籍不在本街道，请到户籍地办理。")
    withdrawn = httpx.post(f"{backend}/api/v1/cases", headers=bearer_headers("tools"), json=case_body()).json()[
        "case_number"
    ]
    _move(backend, withdrawn, "accepted")
    _move(backend, withdrawn, "withdrawn", reason="申请人本人要求撤回")
    (rejection,) = _spooled(backend, rejected)
    receipt, withdrawal = _spooled(backend, withdrawn)
    kinds = [job["kind"] for job in (rejection, receipt, withdrawal)]
    assert kinds == ["rejection_notice", "receipt", "withdrawal_notice"]

    no, off = _print_all(backend, tmp_path / "decisions", rejection["id"], withdrawal["id"])
    assert "不予受理告知" in no.text and rejected in no.text and "老年人优待证" in no.text
    assert "经审查，您的申请不予受理。" in no.text and "原因：户籍不在本街道，请到户籍地办理。" in no.text
    assert case_body()["resident"]["id_number"] not in no.text  # masked, as on every receipt
    assert "撤销告知" in off.text and withdrawn in off.text and "原因：申请人本人要求撤回。" in off.text
    for job in (rejection, withdrawal):
        assert (
            httpx.get(f"{backend}/api/v1/print-jobs/{job['id']}", headers=bearer_headers("tools")).json()["status"]
            == "printed"
        )


def test_a_correction_notice_lists_what_was_missing_at_the_change_even_if_printed_later(
    backend: str, tmp_path: Path
) -> None:
    filed = httpx.post(f"{backend}/api/v1/cases", headers=bearer_headers("tools"), json=case_body()).json()
    number = filed["case_number"]
    _move(backend, number, "accepted")
    told = _move(backend, number, "needs_correction", missing=["id_card"])["missing"]
    _move(backend, number, "processing", received=["id_card"])  # brought in before the printer got to it
    receipt, correction = _spooled(backend, number)
    assert correction["kind"] == "correction_notice" and correction["document"]["missing"] == told

    _, document = _print_all(backend, tmp_path / "corrections", receipt["id"], correction["id"])
    assert "补正材料告知" in document.text and f"1. {told[0]}" in document.text


def _decoded(data: bytes) -> str:
    decoder = EscPosDecoder()
    return "".join(event.text for event in decoder.feed(data) + decoder.flush() if isinstance(event, Text))


def test_the_rejection_and_withdrawal_notices_are_gb18030_with_the_reason() -> None:
    case = {"issued_at": NOW, "case_number": "JJ-20261126-0008", "item_name": "浙江省居住证申领", **RESIDENT}
    rejection = receipts.render(RejectionNotice(**case, reason="居住未满半年。"))
    assert rejection.startswith(b"\x1b@\x1c&") and rejection.endswith(b"\x1dV\x00")
    assert "原因：居住未满半年。\n".encode("gb18030") in rejection and "居住未满半年".encode() not in rejection
    text = _decoded(rejection)
    assert "不予受理告知" in text and "办理事项：浙江省居住证申领" in text and "330106********121X" in text
    assert "告知时间：2026-11-26 09:30" in text and "。。" not in text

    withdrawal = receipts.render(WithdrawalNotice(**case, reason="申请人本人要求撤回"))
    text = _decoded(withdrawal)
    assert "撤销告知" in text and "您的申请已撤销。" in text and "原因：申请人本人要求撤回。" in text
    assert "办件编号：JJ-20261126-0008" in text and "如还需要办理，欢迎重新申请。" in text


def test_a_job_whose_document_cannot_be_read_is_cancelled_with_the_reason(printer: PrinterSimulator) -> None:
    """It would never print, and claimed again and again it would hold up every job behind it."""
    reports: list[tuple[str, dict]] = []

    def spool(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/claim"):
            return httpx.Response(200, json={"id": 5, "kind": "ticket", "document": {"kind": "ticket", "number": "A1"}})
        reports.append((request.url.path, json.loads(request.content or b"{}")))
        return httpx.Response(200, json={})

    worker = PrinterWorker("ticket", SerialPrinter(str(printer.link), timeout_s=0.5), "http://spool.invalid")
    worker.backend = httpx.Client(base_url="http://spool.invalid/api/v1", transport=httpx.MockTransport(spool))
    try:
        assert worker.step() == "refused"
    finally:
        worker.close()
    cancelled = {"status": "cancelled", "error": "无法生成打印内容：ValidationError"}
    assert reports == [("/api/v1/print-jobs/5/status", cancelled)] and printer.printed == []
