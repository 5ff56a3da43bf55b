"""Faults in the production configuration: the ticket printer is unplugged in the middle of a job."""

from __future__ import annotations

import time

import httpx

from tests.deploy.conftest import Prod
from tests.waiting import wait_for


def _job_of(prod: Prod, number: str) -> dict:
    query = {"printer": "ticket", "limit": 200}
    listed = httpx.get(f"{prod.stack.internal}/api/v1/print-jobs", params=query, headers=prod.headers).json()
    return next(job for job in listed if job["payload"].get("number") == number)


def test_a_printer_unplugged_during_a_job_prints_it_once_when_plugged_back(prod: Prod) -> None:
    control = prod.stack.devices_control
    # The roll ends as the job starts: the worker has the job and waits for paper when the plug is pulled.
    assert httpx.post(f"{control}/printers/ticket/paper-out").status_code == 200
    ticket = {"category": "A", "channel": "counter"}
    taken = httpx.post(f"{prod.stack.internal}/api/v1/queue/tickets", json=ticket, headers=prod.headers)
    assert taken.status_code == 201, taken.text
    number = taken.json()["number"]
    time.sleep(1.5)
    assert httpx.post(f"{control}/printers/ticket/unplug").status_code == 200
    time.sleep(2)
    assert _job_of(prod, number)["status"] != "printed"
    assert httpx.post(f"{control}/printers/ticket/replug").status_code == 200
    assert httpx.post(f"{control}/printers/ticket/refill").status_code == 200
    job = wait_for(lambda: (j := _job_of(prod, number))["status"] == "printed" and j, 30, "printed after replugging")
    printed = prod.folder / "devices" / "printer" / f"{job['id']}.txt"
    assert number in printed.read_text(encoding="utf-8")
    printings = (prod.folder / "devices.log").read_text().count(f"printed {printed}")
    assert printings == 1  # once, though the job was started twice
    assert prod.stack.part("devices").running  # the driver never crashed
