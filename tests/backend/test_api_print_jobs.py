"""The print spool: claim with a lease, confirm once, retry after a fault, cancel; nothing lost or doubled."""

from __future__ import annotations

from tests.conftest import Api, case_body, make_app, running


async def spool(api: Api, **body) -> dict:
    response = await api.post("/api/v1/print-jobs", json={"kind": "receipt", "payload": {"x": 1}} | body)
    assert response.status == 201, response.json
    return response.json


async def claim(api: Api, printer: str = "receipt") -> dict | None:
    response = await api.post("/api/v1/print-jobs/claim", json={"printer": printer})
    return None if response.status == 204 else response.json


async def test_claim_print_and_confirm_once(api: Api) -> None:
    filed = await api.post("/api/v1/cases", json=case_body())
    job = await spool(api, case_number=filed.json["case_number"])
    assert job["status"] == "queued" and job["case_number"] == filed.json["case_number"]
    claimed = await claim(api)
    assert claimed["id"] == job["id"] and claimed["status"] == "printing" and claimed["attempts"] == 1
    assert await claim(api) is None  # leased: nobody else prints it
    done = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "printed"})
    assert done.json["status"] == "printed" and done.json["printed_at"]
    again = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "printed"})
    assert again.status == 200  # a repeated confirmation changes nothing
    late_cancel = await api.post(f"/api/v1/print-jobs/{job['id']}/status", json={"status": "cancelled"})
    assert late_cancel.status == 409


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
    job = await spool(api, printer="ticket", kind="ticket")
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
