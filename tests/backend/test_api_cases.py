"""Cases over the API: filing, idempotency, deadlines, proxy filing, listing, transitions, the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from backend.models import AuditEntry, Case, Resident
from tests.conftest import ELDER_ID, YOUNG_ID, Api, case_body, make_id


async def test_file_a_case_with_its_checklist(api: Api) -> None:
    api.set_today(dt.date(2026, 11, 26))
    response = await api.post("/api/v1/cases", json=case_body(materials_received=["id_card"]))
    assert response.status == 201, response.json
    case = response.json
    assert case["case_number"] == "JJ-20261126-0001"
    assert case["status"] == "submitted" and case["status_label"] == "待受理"
    assert case["resident_id_number"] == "1101**********002X"  # masked in every response
    assert case["resident_phone"] == "138****5678"
    assert case["missing"] == []
    assert {m["status"] for m in case["materials"]} <= {"received", "looked_up"}
    second = await api.post("/api/v1/cases", json=case_body("senior_transit_card"))
    assert second.json["case_number"] == "JJ-20261126-0002"


async def test_numbers_restart_each_day(api: Api) -> None:
    api.set_today(dt.date(2026, 11, 26))
    await api.post("/api/v1/cases", json=case_body())
    api.set_today(dt.date(2026, 11, 27))
    response = await api.post("/api/v1/cases", json=case_body())
    assert response.json["case_number"] == "JJ-20261127-0001"


async def test_promised_case_gets_a_working_day_deadline(api: Api) -> None:
    api.set_today(dt.date(2026, 9, 29))
    body = case_body("disability_certificate", YOUNG_ID)
    response = await api.post("/api/v1/cases", json=body)
    assert response.status == 201, response.json
    case = response.json
    assert case["immediate"] is False and case["working_days"] == 7
    # 9.30, then the National Day holiday (10.1–10.7), 10.8, 10.9, 10.10 (make-up Saturday), 10.12, 10.13, 10.14.
    assert case["deadline"] == "2026-10-14" and case["deadline_provisional"] is False


async def test_the_same_idempotency_key_files_one_case(api: Api) -> None:
    headers = {"Idempotency-Key": "wechat-msg-1234567890"}
    first = await api.post("/api/v1/cases", json=case_body(), headers=headers)
    again = await api.post("/api/v1/cases", json=case_body(), headers=headers)
    assert (first.status, again.status) == (201, 200)
    assert first.json["case_number"] == again.json["case_number"]
    other = await api.post("/api/v1/cases", json=case_body("senior_transit_card"), headers=headers)
    assert other.status == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    listed = await api.get("/api/v1/cases", params={"id_number": ELDER_ID})
    assert listed.json["total"] == 1


async def test_concurrent_retries_with_one_key_file_one_case(api: Api) -> None:
    headers = {"Idempotency-Key": "retry-storm"}
    responses = await asyncio.gather(*[api.post("/api/v1/cases", json=case_body(), headers=headers) for _ in range(8)])
    assert sorted(r.status for r in responses) == [200] * 7 + [201]
    assert len({r.json["case_number"] for r in responses}) == 1
    async with api.app.ctx.db.read() as session:
        assert len((await session.execute(select(Case))).scalars().all()) == 1


async def test_not_eligible_is_refused_with_the_reason(api: Api) -> None:
    response = await api.post("/api/v1/cases", json=case_body("elderly_preferential_card", YOUNG_ID))
    assert response.status == 422
    assert response.json["error"]["code"] == "not_eligible"
    assert "60" in response.json["error"]["message"]


async def test_proxy_filing_records_the_proxy_and_needs_their_papers(api: Api) -> None:
    proxy = {"name": "李社工", "id_number": YOUNG_ID, "staff_username": "sw_li", "consent": "sms_code"}
    body = case_body(channel="proxy", proxy=proxy, materials_received=["id_card"])
    response = await api.post("/api/v1/cases", json=body)
    assert response.status == 201, response.json
    case = response.json
    assert case["channel"] == "proxy" and case["proxy_staff"] == "sw_li" and case["consent"] == "sms_code"
    assert any("委托" in name for name in case["missing"])
    no_proxy = await api.post("/api/v1/cases", json=case_body(channel="proxy"))
    assert no_proxy.status == 422 and no_proxy.json["error"]["code"] == "proxy_required"
    self_proxy = await api.post("/api/v1/cases", json=case_body(proxy=dict(proxy, id_number=ELDER_ID)))
    assert self_proxy.json["error"]["code"] == "proxy_is_resident"


async def test_list_by_resident_phone_status_and_department(api: Api) -> None:
    other = make_id("330106", "19520505", "331")
    await api.post("/api/v1/cases", json=case_body("elderly_preferential_card"))
    await api.post("/api/v1/cases", json=case_body("senior_transit_card"))
    third = await api.post(
        "/api/v1/cases",
        json=case_body("disability_certificate", other)
        | {"resident": {"id_number": other, "name": "赵大爷", "phone": "13900001111"}},
    )
    await api.post(f"/api/v1/cases/{third.json['case_number']}/transitions", json={"to": "accepted"})

    async def numbers(**params) -> list[str]:
        response = await api.get("/api/v1/cases", params=params)
        assert response.status == 200, response.json
        return [c["item_id"] for c in response.json["cases"]]

    assert await numbers(id_number=ELDER_ID) == ["senior_transit_card", "elderly_preferential_card"]
    assert await numbers(phone="13900001111") == ["disability_certificate"]
    assert await numbers(status="accepted") == ["disability_certificate"]
    assert len(await numbers(status=["accepted", "submitted"])) == 3
    assert await numbers(department="残联") == ["disability_certificate"]
    assert len(await numbers(limit=1)) == 1
    assert (await api.get("/api/v1/cases", params={"status": "done"})).status == 422


async def test_a_second_filing_refreshes_the_resident(api: Api) -> None:
    await api.post("/api/v1/cases", json=case_body())
    body = case_body("senior_transit_card")
    body["resident"]["phone"] = "13700002222"
    await api.post("/api/v1/cases", json=body)
    async with api.app.ctx.db.read() as session:
        residents = (await session.execute(select(Resident))).scalars().all()
    assert len(residents) == 1 and residents[0].phone == "13700002222"


async def test_correction_lists_everything_missing_and_audit_records_each_change(api: Api) -> None:
    api.set_today(dt.date(2026, 11, 26))
    filed = await api.post(
        "/api/v1/cases", json=case_body("residence_permit", YOUNG_ID, answers={"non_local_hukou": True})
    )
    assert filed.status == 201, filed.json
    number = filed.json["case_number"]
    missing_at_filing = filed.json["missing"]
    assert missing_at_filing
    step = await api.post(
        f"/api/v1/cases/{number}/transitions", json={"to": "needs_correction"}, headers={"X-Actor": "staff:front1"}
    )
    assert step.status == 200 and step.json["status_label"] == "待补正"
    assert step.json["missing"] == missing_at_filing
    received_all = [m["id"] for m in step.json["materials"] if m["status"] == "missing"]
    accepted = await api.post(
        f"/api/v1/cases/{number}/transitions",
        json={"to": "accepted", "received": received_all},
        headers={"X-Actor": "staff:front1"},
    )
    assert accepted.json["missing"] == [] and accepted.json["deadline"]
    rejected = await api.post(f"/api/v1/cases/{number}/transitions", json={"to": "rejected"})
    assert rejected.status == 409
    withdraw = await api.post(f"/api/v1/cases/{number}/transitions", json={"to": "withdrawn"})
    assert withdraw.status == 422 and withdraw.json["error"]["code"] == "reason_required"
    async with api.app.ctx.db.read() as session:
        entries = (
            (await session.execute(select(AuditEntry).where(AuditEntry.entity_id == number).order_by(AuditEntry.id)))
            .scalars()
            .all()
        )
    assert [e.action for e in entries] == ["case.create", "case.transition", "case.transition"]
    # The service whose token the request carried is the actor; its X-Actor is a detail after it.
    assert entries[0].actor == "tools" and entries[1].actor == "tools:staff:front1"
    assert entries[1].detail["to"] == "needs_correction"
    assert YOUNG_ID not in str(entries[0].detail)  # personal data masked in the audit log too


async def test_unknown_case(api: Api) -> None:
    response = await api.get("/api/v1/cases/JJ-20261126-9999")
    assert response.status == 404 and response.json["error"]["code"] == "unknown_case"
