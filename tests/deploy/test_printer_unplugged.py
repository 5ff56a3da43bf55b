"""Faults in the production configuration: the ticket printer runs out of paper with a job coming and is unplugged
while the job waits; plugged back and refilled, it prints the job once. (A job cut off in the middle of printing is
tested against the worker itself, in tests/devices/test_printing.py, where the test can time the fault.)"""

from __future__ import annotations

import httpx

from tests.deploy.conftest import Prod
from tests.waiting import wait_for


def _job_of(prod: Prod, number: str) -> dict:
    query = {"printer": "ticket", "limit": 200}
    listed = httpx.get(f"{prod.stack.internal}/api/v1/print-jobs", params=query, headers=prod.headers).json()
    return next(job for job in listed if job["document"].get("number") == number)


def _reported(prod: Prod, problem: str) -> int:
    """How often the ticket printer's worker has logged ``problem`` (it logs each change of the printer's state)."""
    line = f"ticket printer: {problem}"
    return sum(log.read_text(encoding="utf-8", errors="replace").count(line) for log in prod.folder.glob("*.log"))


def _worker_sees(prod: Prod, problem: str, before: int) -> None:
    wait_for(lambda: _reported(prod, problem) > before, 30, f"the ticket printer's worker reporting {problem}")


def test_a_printer_unplugged_while_a_job_waits_prints_it_once_when_plugged_back(prod: Prod) -> None:
    control = prod.stack.devices_control
    out_of_paper, unplugged = _reported(prod, "打印机缺纸"), _reported(prod, "打印机未连接")
    assert httpx.post(f"{control}/printers/ticket/paper-out").status_code == 200
    _worker_sees(prod, "打印机缺纸", out_of_paper)
    ticket = {"category": "A", "channel": "counter"}
    taken = httpx.post(f"{prod.stack.internal}/api/v1/queue/tickets", json=ticket, headers=prod.headers)
    assert taken.status_code == 201, taken.text
    number = taken.json()["number"]
    assert httpx.post(f"{control}/printers/ticket/unplug").status_code == 200
    _worker_sees(prod, "打印机未连接", unplugged)  # the worker has looked at the unplugged printer
    waiting = _job_of(prod, number)
    assert (waiting["status"], waiting["attempts"]) == ("queued", 0)  # not claimed by a printer that cannot print
    assert httpx.post(f"{control}/printers/ticket/replug").status_code == 200
    assert httpx.post(f"{control}/printers/ticket/refill").status_code == 200
    job = wait_for(lambda: (j := _job_of(prod, number))["status"] == "printed" and j, 30, "printed after replugging")
    printed = prod.folder / "devices" / "printer" / f"{job['id']}.txt"
    assert number in printed.read_text(encoding="utf-8")
    # The simulated printer logs each document it files (in whichever part's log runs the simulators).
    printings = sum(log.read_text().count(f"printed {printed}") for log in prod.folder.glob("*.log"))
    assert printings == 1
    assert prod.stack.part("devices").running  # the driver never crashed
