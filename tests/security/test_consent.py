"""Consent to a proxy filing (代办), tried as someone filing for a resident who never agreed: through the bot a "yes"
is all it takes, so such a case is recorded ``pending`` whatever the request claims, and it cannot be accepted (nor
processed) until staff confirmed the resident's consent at the window; the console shows who confirmed and when,
and the audit log has it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from backend.models import AuditEntry, Case, StaffRole
from tests.backend.test_console import Centre
from tests.conftest import YOUNG_ID, case_body, make_app, running

PROXY = {"name": "李代办", "id_number": YOUNG_ID}


@pytest.fixture
async def centre(database_url: str, catalog) -> AsyncIterator[Centre]:
    async with running(make_app(database_url, catalog, notifier_enabled=False)) as api:
        centre = Centre(api)
        for username, role, department in (
            ("qiantai", StaffRole.FRONT_DESK, None),
            ("minzheng", StaffRole.DEPARTMENT, "民政"),
        ):
            await centre.staff(username, role, department)
        yield centre


async def file_through_the_bot(centre: Centre, consent: str) -> str:
    body = case_body(channel="proxy", proxy=PROXY | {"consent": consent})
    filed = await centre.api.post("/api/v1/cases", json=body, service="actions")
    assert filed.status == 201, filed.text
    return filed.json["case_number"]


async def stored(centre: Centre, number: str) -> Case:
    async with centre.api.app.ctx.db.read() as session:
        return (await session.execute(select(Case).where(Case.case_number == number))).unique().scalar_one()


async def test_the_bot_cannot_claim_a_signature_and_the_case_waits_for_the_window(centre: Centre) -> None:
    for claimed in ("signature", "sms_code", "in_person", "pending"):
        number = await file_through_the_bot(centre, claimed)
        case = await stored(centre, number)
        assert (case.consent, case.consent_confirmed_by, case.consent_confirmed_at) == ("pending", None, None)
    shown = await centre.api.get(f"/api/v1/cases/{number}")
    assert shown.json["consent"] == "pending"

    accept = await centre.api.post(f"/api/v1/cases/{number}/transitions", json={"to": "accepted"})
    assert accept.status == 409 and accept.json["error"]["code"] == "consent_pending"
    assert "居民本人还没有确认同意代办" in accept.json["error"]["message"]
    # Around acceptance: a correction notice is allowed, but processing straight from it is not.
    correction = {"to": "needs_correction", "missing": [(await stored(centre, number)).materials[0].material_id]}
    assert (await centre.api.post(f"/api/v1/cases/{number}/transitions", json=correction)).status == 200
    processing = await centre.api.post(f"/api/v1/cases/{number}/transitions", json={"to": "processing"})
    assert processing.status == 409 and processing.json["error"]["code"] == "consent_pending"
    assert (await stored(centre, number)).status.value == "needs_correction"


async def test_staff_confirm_at_the_window_then_accept_and_the_console_shows_who(centre: Centre) -> None:
    number = await file_through_the_bot(centre, "signature")
    front, department = centre.browser(), centre.browser()
    assert (await front.sign_in("qiantai")).status_code == 303
    assert (await department.sign_in("minzheng")).status_code == 303

    page = await front.get(f"/console/cases/{number}")
    assert "待确认" in page.text and "确认居民同意代办" in page.text
    refused = await front.act(number, "accepted")
    assert refused.status_code == 409 and "居民本人还没有确认同意代办" in refused.text
    assert (await stored(centre, number)).status.value == "submitted"

    csrf = await department.csrf(f"/console/cases/{number}")  # a department may not confirm
    assert (await department.post(f"/console/cases/{number}/consent", {"csrf": csrf})).status_code == 403
    forged = await front.post(f"/console/cases/{number}/consent", {"csrf": "not-the-token"})  # nor another page
    assert forged.status_code == 403 and (await stored(centre, number)).consent == "pending"

    csrf = await front.csrf(f"/console/cases/{number}")
    confirmed = await front.post(f"/console/cases/{number}/consent", {"csrf": csrf})
    assert confirmed.status_code == 303
    case = await stored(centre, number)
    assert (case.consent, case.consent_confirmed_by) == ("in_person", "qiantai") and case.consent_confirmed_at
    shown = (await front.get(f"/console/cases/{number}")).text
    consent = re.search(r'<dd id="consent">([^<]*)</dd>', shown).group(1)
    assert "居民本人在窗口确认" in consent and "确认人 qiantai" in consent
    assert case.consent_confirmed_at.strftime("%Y-%m-%d %H:%M") in consent
    assert "确认居民同意代办" in shown  # in the case's history too

    again = await front.post(f"/console/cases/{number}/consent", {"csrf": csrf})
    assert again.status_code == 409 and "不需要再确认" in again.text
    assert (await front.act(number, "accepted")).status_code == 303
    async with centre.api.app.ctx.db.read() as session:
        audited = await session.execute(
            select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.entity_id == number).order_by(AuditEntry.id)
        )
        trail = [(action, actor) for action, actor in audited.all() if action != "case.create"]
    assert trail == [("case.consent_confirmed", "qiantai"), ("case.transition", "qiantai")]


async def test_a_trusted_filing_keeps_its_witnessed_consent(centre: Centre) -> None:
    body = case_body(channel="proxy", proxy=PROXY | {"consent": "in_person"})
    filed = await centre.api.post("/api/v1/cases", json=body)  # an operator's tool (the tools token)
    case = await stored(centre, filed.json["case_number"])
    assert (case.consent, case.consent_confirmed_by) == ("in_person", "tools") and case.consent_confirmed_at
    accept = await centre.api.post(f"/api/v1/cases/{case.case_number}/transitions", json={"to": "accepted"})
    assert accept.status == 200
