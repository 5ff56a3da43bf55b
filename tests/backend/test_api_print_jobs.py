"""The print spool: complete documents spooled, claimed with a lease, confirmed once, retried after a fault,
cancelled; nothing lost or doubled; jobs queued before documents were typed still print after the upgrade."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.db import create_sync_engine_for
from backend.migrate import upgrade
from printing.documents import AcceptanceReceipt, CorrectionNotice, QueueTicket, parse_document
from tests.conftest import POSTGRES_ADMIN_URL, SKIP_POSTGRES, Api, case_body, make_app, running
from vocabulary.follow_urls import case_url, ticket_url

FOLLOW_URL = "http://127.0.0.1:8000/follow"
"""The backend's default FOLLOW_URL, which the tests' apps keep."""
TICKET = {
    "kind": "ticket",
    "issued_at": "2026-11-27T01:30:00+00:00",
    "number": "A012",
    "category": "A",
    "ahead": 4,
    "service_day": "2026-11-27",
    "qr": f"{FOLLOW_URL}/ticket/2026-11-27/A012",
    "qr_kind": "page",
}


async def file_case(api: Api) -> str:
    filed = await api.post("/api/v1/cases", json=case_body())
    assert filed.status == 201, filed.json
    return filed.json["case_number"]


async def spool(api: Api, **body) -> dict:
    """A job spooled by hand: by default a pickup notice about a newly filed case."""
    if "document" not in body and "case_number" not in body:
        body["case_number"] = await file_case(api)
    response = await api.post("/api/v1/print-jobs", json={"kind": "pickup_notice"} | body)
    assert response.status == 201, response.json
    return response.json


async def claim(api: Api, printer: str = "receipt") -> dict | None:
    response = await api.post("/api/v1/print-jobs/claim", json={"printer": printer})
    return None if response.status == 204 else response.json


async def test_claim_print_and_confirm_once(api: Api) -> None:
    number = await file_case(api)
    job = await spool(api, case_number=number)
    assert job["status"] == "queued" and job["case_number"] == number
    claimed = await claim(api)
    assert claimed["id"] == job["id"] and claimed["status"] == "printing" and claimed["attempts"] == 1
    assert await claim(api) is None  # leased: nobody else prints it
    done = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "printed"})
    assert done.json["status"] == "printed" and done.json["printed_at"]
    again = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "printed"})
    assert again.status == 200  # a repeated confirmation changes nothing
    late_cancel = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "cancelled"})
    assert late_cancel.status == 409


async def test_a_case_document_is_complete_when_spooled(api: Api) -> None:
    number = await file_case(api)
    moved = await api.post(f"/api/v1/cases/{number}/transitions", json={"to": "accepted"})
    assert moved.status == 200, moved.json
    (job,) = [j for j in (await api.get("/api/v1/print-jobs")).json if j["case_number"] == number]
    receipt = parse_document(job["document"])
    assert isinstance(receipt, AcceptanceReceipt) and job["kind"] == receipt.kind == "receipt"
    assert receipt.case_number == number and receipt.item_name == "老年人优待证"
    assert receipt.follow_url == case_url(FOLLOW_URL, api.app.ctx.follow_secret, number)
    assert receipt.receipt_code == moved.json["receipt_code"]
    assert receipt.resident_id_number == moved.json["resident_id_number"] != case_body()["resident"]["id_number"]
    assert receipt.accepted_at and receipt.immediate == moved.json["immediate"]


async def test_a_counter_ticket_is_spooled_with_its_page_as_its_qr_code(api: Api) -> None:
    taken = await api.post("/api/v1/queue/tickets", json={"category": "A", "channel": "counter"})
    (job,) = (await api.get("/api/v1/print-jobs", params={"printer": "ticket"})).json
    ticket = parse_document(job["document"])
    assert isinstance(ticket, QueueTicket) and ticket.number == taken.json["number"]
    day = dt.date.fromisoformat(taken.json["service_day"])
    assert (ticket.qr, ticket.qr_kind, ticket.ahead) == (ticket_url(FOLLOW_URL, day, ticket.number), "page", 0)
    # WeChat is not configured: the first claim keeps the page.
    assert (await claim(api, "ticket"))["document"] == job["document"]


async def test_a_document_given_whole_is_spooled_as_it_is_and_checked(api: Api) -> None:
    job = await spool(api, kind="ticket", printer="ticket", document=TICKET)
    assert parse_document(job["document"]) == parse_document(TICKET)
    other_kind = await api.post("/api/v1/print-jobs", json={"kind": "receipt", "document": TICKET})
    assert other_kind.status == 422 and other_kind.json["error"]["code"] == "document_kind"
    nothing = await api.post("/api/v1/print-jobs", json={"kind": "ticket"})
    assert nothing.status == 422 and nothing.json["error"]["code"] == "document_required"
    unmasked = TICKET | {"kind": "rejection_notice", "case_number": "JJ-20261126-0001", "item_name": "x"}
    unmasked |= {"resident_name": "王秀英", "resident_id_number": case_body()["resident"]["id_number"]}
    for key in ("number", "category", "ahead", "service_day", "qr", "qr_kind"):
        unmasked.pop(key)
    refused = await api.post("/api/v1/print-jobs", json={"kind": "rejection_notice", "document": unmasked})
    assert refused.status == 422  # a document never carries a whole ID number
    masked = unmasked | {"resident_id_number": "3301**********123X"}
    assert (await api.post("/api/v1/print-jobs", json={"kind": "rejection_notice", "document": masked})).status == 201


async def test_a_fault_puts_the_job_back_and_it_is_printed_later(api: Api) -> None:
    job = await spool(api)
    await claim(api)
    back = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "queued", "error": "缺纸"})
    assert back.json["status"] == "queued" and back.json["last_error"] == "缺纸"
    retried = await claim(api)
    assert retried["id"] == job["id"] and retried["attempts"] == 2


async def test_an_expired_lease_is_claimable_again(database_url: str, catalog) -> None:
    async with running(make_app(database_url, catalog, print_lease_seconds=0)) as api:
        job = await spool(api)
        assert (await claim(api))["id"] == job["id"]
        # The worker died without confirming; with the lease over, the job comes back.
        assert (await claim(api))["id"] == job["id"]


async def test_a_job_sent_to_the_printer_is_never_printed_again_on_its_own(database_url: str, catalog) -> None:
    async with running(make_app(database_url, catalog, print_lease_seconds=0)) as api:
        job = await spool(api)
        claimed = await claim(api)
        sent = await api.post(f"/api/v1/print-jobs/{claimed['id']}/sent")
        assert sent.status == 200 and sent.json["sent_at"]
        # The worker died after sending: the printer may have printed it. Not re-leased; staff are asked to look.
        assert await claim(api) is None
        listed = (await api.get(f"/api/v1/print-jobs/{job['id']}")).json
        assert listed["needs_check"] and listed["status"] == "printing"
        # Staff saw nothing came out: back to the queue, printed once more.
        back = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "queued", "error": "未打出"})
        assert back.json["sent_at"] is None and not back.json["needs_check"]
        again = await claim(api)
        assert again["id"] == job["id"] and again["attempts"] == 2
        assert (await api.post(f"/api/v1/print-jobs/{job['id']}/sent")).status == 200
        done = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "printed"})
        assert done.json["status"] == "printed" and not done.json["needs_check"]
        assert (await api.post("/api/v1/print-jobs/99999/sent")).status == 404


async def test_only_a_claimed_job_can_be_sent(api: Api) -> None:
    job = await spool(api)
    refused = await api.post(f"/api/v1/print-jobs/{job['id']}/sent")
    assert refused.status == 409 and refused.json["error"]["code"] == "print_job_not_claimed"


async def test_cancel_and_filters(api: Api) -> None:
    job = await spool(api, printer="ticket", kind="ticket", document=TICKET)
    cancel = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "cancelled"})
    assert cancel.json["status"] == "cancelled"
    assert await claim(api, "ticket") is None
    printed_early = await spool(api)
    refused = await api.post(f"/api/v1/print-jobs/{printed_early['id']}/status", json={"status": "printed"})
    assert refused.status == 409 and refused.json["error"]["code"] == "print_job_not_claimed"
    listed = await api.get("/api/v1/print-jobs", params={"status": "cancelled"})
    assert [j["id"] for j in listed.json] == [job["id"]]
    assert (await api.get("/api/v1/print-jobs/99999")).status == 404
    assert (await api.post("/api/v1/print-jobs", json={"kind": "receipt", "case_number": "JJ-1"})).status == 404


# ---- jobs spooled before documents were typed ------------------------------------------------------------------

BEFORE_DOCUMENTS = "0014"
"""The last revision whose print jobs carried a partial ``payload``."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres])])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind at BEFORE_DOCUMENTS."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, BEFORE_DOCUMENTS)
        yield url
        return
    if SKIP_POSTGRES:
        pytest.skip("JIUJIN_SKIP_POSTGRES=1")
    from harness.databases import temporary_postgres_database

    with temporary_postgres_database(POSTGRES_ADMIN_URL) as url:
        upgrade(url, BEFORE_DOCUMENTS)
        yield url


def _old_jobs(url: str) -> None:
    """What the spool held then: a counter ticket (its code not yet made), a receipt and a 补正 notice of one case
    with the lists of their time, and a ticket spooled by hand that names no ticket."""
    engine = create_sync_engine_for(url)
    created = dt.datetime(2026, 11, 26, 1, 5, tzinfo=dt.UTC)
    with engine.begin() as connection:
        resident = connection.execute(
            sa.text(
                "INSERT INTO residents (id_number, name, created_at, updated_at) "
                "VALUES (:id, '王秀英', :at, :at) RETURNING id"
            ),
            {"id": case_body()["resident"]["id_number"], "at": created},
        ).scalar_one()
        case = connection.execute(
            sa.text(
                "INSERT INTO cases (case_number, item_id, department, resident_id, channel, status, immediate, "
                "working_days, deadline_provisional, created_at, updated_at, accepted_at) VALUES ('JJ-20261126-0001', "
                "'elderly_preferential_card', '民政', :resident, 'counter', 'needs_correction', true, 0, false, :at, "
                ":at, :at) RETURNING id"
            ),
            {"resident": resident, "at": created},
        ).scalar_one()
        for position, (name, status) in enumerate([("居民身份证", "received"), ("户口簿", "missing")]):
            connection.execute(
                sa.text(
                    "INSERT INTO case_materials (case_id, position, material_id, name, status) "
                    "VALUES (:case, :position, :id, :name, :status)"
                ),
                {"case": case, "position": position, "id": f"m{position}", "name": name, "status": status},
            )
        ticket = {"number": "A007", "category": "A", "ahead": 2, "service_day": "2026-11-26"}
        jobs = [
            ("ticket", "ticket", None, ticket),
            ("receipt", "receipt", "JJ-20261126-0001", {"missing": [], "accepted_at": created.isoformat()}),
            ("correction_notice", "receipt", "JJ-20261126-0001", {"missing": ["户口簿"]}),
            ("ticket", "ticket", None, {"x": 1}),
        ]
        for kind, printer, number, payload in jobs:
            connection.execute(
                sa.text(
                    "INSERT INTO print_jobs (kind, printer, status, payload, case_number, attempts, created_at) "
                    "VALUES (:kind, :printer, 'queued', :payload, :number, 0, :at)"
                ),
                {"kind": kind, "printer": printer, "payload": json.dumps(payload), "number": number, "at": created},
            )
    engine.dispose()


async def test_jobs_queued_before_the_upgrade_print_with_complete_documents(unmigrated_url: str, catalog) -> None:
    _old_jobs(unmigrated_url)
    upgrade(unmigrated_url)
    async with running(make_app(unmigrated_url, catalog)) as api:
        ticket = parse_document((await claim(api, "ticket"))["document"])
        assert isinstance(ticket, QueueTicket) and (ticket.number, ticket.ahead, ticket.qr_kind) == ("A007", 2, "page")
        assert ticket.qr == ticket_url(FOLLOW_URL, dt.date(2026, 11, 26), "A007")
        assert await claim(api, "ticket") is None  # the one that named no ticket is cancelled, with the reason
        (cancelled,) = (await api.get("/api/v1/print-jobs", params={"status": "cancelled"})).json
        assert cancelled["kind"] == "ticket" and "已取消" in cancelled["last_error"]
        receipt = parse_document((await claim(api))["document"])
        assert isinstance(receipt, AcceptanceReceipt) and receipt.missing == () and receipt.received == ("居民身份证",)
        assert receipt.follow_url == case_url(FOLLOW_URL, api.app.ctx.follow_secret, "JJ-20261126-0001")
        assert receipt.resident_id_number.count("*") == 10 and receipt.item_name == "老年人优待证"
        notice = parse_document((await claim(api))["document"])
        assert isinstance(notice, CorrectionNotice) and notice.missing == ("户口簿",)
