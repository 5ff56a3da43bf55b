"""Notices of a case's status changes: a WeChat notice for a case with an OpenID, a notice spooled on the window's
receipt printer otherwise (受理回执 and 补正告知 always), written in the change's transaction, once per event."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from backend.case_status import CaseStatus
from backend.catalog.schema import Catalog
from backend.models import Case, Notification, PrintJob, PrintJobStatus, utcnow
from backend.notices import case_changes as case_notices
from backend.services import cases as case_service
from backend.services import documents
from backend.services.cases import StatusChange
from tests.conftest import YOUNG_ID, Api, case_body, make_app, running
from wechat import templates
from wechat.settings import TemplateIds, WeChatSettings

OPENID = "oJiuJin_resident-0002"
TODAY = dt.date(2026, 11, 26)
ITEM = "老年人优待证"
REASON = "户籍不在本街道，请到户籍地办理。"


@pytest.fixture
async def api(database_url: str, catalog: Catalog) -> AsyncIterator[Api]:
    """A backend whose sender is off: notices stay as written."""
    async with running(make_app(database_url, catalog, notifier_enabled=False)) as client:
        client.set_today(TODAY)
        yield client


async def file(api: Api, *, openid: str | None, **extra: Any) -> str:
    body = case_body(materials_received=["id_card"], **extra)
    if openid:
        body |= {"channel": "wechat", "wechat_openid": openid}
    response = await api.post("/api/v1/cases", json=body)
    assert response.status == 201, response.json
    return response.json["case_number"]


async def move(api: Api, number: str, to: str, **extra: Any) -> dict:
    response = await api.post(f"/api/v1/cases/{number}/transitions", json={"to": to, **extra})
    assert response.status == 200, response.json
    return response.json


async def notices(api: Api, number: str) -> list[Notification]:
    async with api.app.ctx.db.read() as session:
        statement = select(Notification).where(Notification.subject == number).order_by(Notification.id)
        return list((await session.execute(statement)).scalars())


async def jobs(api: Api, number: str) -> list[PrintJob]:
    async with api.app.ctx.db.read() as session:
        statement = select(PrintJob).where(PrintJob.case_number == number).order_by(PrintJob.id)
        return list((await session.execute(statement)).scalars())


async def counts(api: Api, number: str) -> tuple[int, int]:
    return len(await notices(api, number)), len(await jobs(api, number))


# ---- every change, on WeChat and on paper --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last", "says"),
    [("handed_out", "您的办件结果（{n}，老年人优待证）已在窗口领取。"), ("delivered", "已由社工送到家中。")],
    ids=["handed_out", "delivered"],
)
async def test_each_change_of_a_wechat_case_queues_one_notice_and_prints_receipt_and_correction(
    api: Api, last: str, says: str
) -> None:
    number = await file(api, openid=OPENID)
    steps: list[tuple[str, dict[str, Any], str, str, str | None]] = [
        ("accepted", {}, "case_accepted", "accepted", "receipt"),
        ("needs_correction", {"missing": ["id_card"]}, "correction_needed", "correction:1", "correction_notice"),
        ("processing", {"received": ["id_card"]}, "case_status", "processing", None),
        ("completed", {}, "ready_for_pickup", "ready", None),  # told on WeChat: nothing to print
        (last, {}, "case_status", last, None),
    ]
    for to, extra, kind, key, printed in steps:
        before_notices, before_jobs = await counts(api, number)
        await move(api, number, to, **extra)
        told, spooled = await notices(api, number), await jobs(api, number)
        assert len(told) == before_notices + 1, to
        assert (told[-1].kind, told[-1].dedupe_key, told[-1].wechat_openid) == (kind, f"case:{number}:{key}", OPENID)
        assert len(spooled) == before_jobs + (printed is not None), to
        if printed:
            assert (spooled[-1].kind, spooled[-1].printer, spooled[-1].status) == (
                printed,
                "receipt",
                PrintJobStatus.QUEUED,
            )
    assert told[-1].payload["fields"]["keyword3"] == CaseStatus(last).label
    assert says.format(n=number) in told[-1].payload["text"]
    assert [j.dedupe_key for j in spooled] == [f"case:{number}:receipt", f"case:{number}:correction_notice:1"]
    assert spooled[1].document["missing"] == ["居民身份证"]  # the list of this round, kept for the printer


async def test_each_change_of_a_case_without_openid_prints_what_the_resident_must_learn(api: Api) -> None:
    number = await file(api, openid=None)
    steps = [
        ("accepted", {}, "receipt"),
        ("needs_correction", {"missing": ["id_card"]}, "correction_notice"),
        ("processing", {"received": ["id_card"]}, None),
        ("completed", {}, "pickup_notice"),
        ("handed_out", {}, None),
    ]
    for to, extra, printed in steps:
        before = len(await jobs(api, number))
        await move(api, number, to, **extra)
        spooled = await jobs(api, number)
        assert [j.kind for j in spooled[before:]] == ([printed] if printed else []), to
    assert [j.dedupe_key for j in spooled] == [
        f"case:{number}:receipt",
        f"case:{number}:correction_notice:1",
        f"case:{number}:pickup_notice",
    ]
    assert {j.printer for j in spooled} == {"receipt"} and {j.status for j in spooled} == {PrintJobStatus.QUEUED}
    assert await notices(api, number) == []


@pytest.mark.parametrize("openid", [OPENID, None], ids=["wechat", "counter"])
async def test_a_rejection_and_a_withdrawal_tell_the_reason(api: Api, openid: str | None) -> None:
    rejected = await file(api, openid=openid)
    await move(api, rejected, "rejected", reason=REASON)
    withdrawn = await file(api, openid=openid)
    await move(api, withdrawn, "accepted")
    await move(api, withdrawn, "withdrawn", reason="申请人本人要求撤回")

    if openid:
        (told,) = await notices(api, rejected)
        assert (told.kind, told.dedupe_key) == ("case_status", f"case:{rejected}:rejected")
        assert told.payload["text"] == (
            f"很抱歉，您的申请（{rejected}，{ITEM}）未能受理。原因：户籍不在本街道，请到户籍地办理。"
            "如有疑问，请到骆家庄便民服务中心综合窗口咨询。"
        )
        assert told.payload["fields"]["keyword4"] == "户籍不在本街道，请到户籍地办理"
        assert await jobs(api, rejected) == []  # told on WeChat
        accepted, withdrawal = await notices(api, withdrawn)
        assert accepted.kind == "case_accepted"
        assert (withdrawal.kind, withdrawal.dedupe_key) == ("case_status", f"case:{withdrawn}:withdrawn")
        assert withdrawal.payload["text"] == (
            f"您的申请（{withdrawn}，{ITEM}）已撤销。原因：申请人本人要求撤回。如还需要办理，欢迎重新申请。"
        )
        assert [j.kind for j in await jobs(api, withdrawn)] == ["receipt"]  # the receipt is printed for everyone
    else:
        (rejection,) = await jobs(api, rejected)
        assert (rejection.kind, rejection.dedupe_key) == ("rejection_notice", f"case:{rejected}:rejection_notice")
        assert rejection.document["reason"] == REASON
        receipt, withdrawal = await jobs(api, withdrawn)
        assert (receipt.kind, withdrawal.kind) == ("receipt", "withdrawal_notice")
        assert withdrawal.document["reason"] == "申请人本人要求撤回"
        assert await notices(api, rejected) == [] and await notices(api, withdrawn) == []


async def test_a_case_delivered_home_prints_nothing_after_the_pickup_notice(api: Api) -> None:
    number = await file(api, openid=None)
    for to in ("accepted", "processing", "completed", "delivered"):
        await move(api, number, to)
    assert [j.kind for j in await jobs(api, number)] == ["receipt", "pickup_notice"]


# ---- once per event, nothing for a refused change ------------------------------------------------------------------


async def test_repeats_add_nothing_and_each_round_of_correction_is_told_and_printed(api: Api) -> None:
    number = await file(api, openid=OPENID)
    await move(api, number, "accepted")
    again = await api.post(f"/api/v1/cases/{number}/transitions", json={"to": "accepted"})
    assert again.status == 409 and await counts(api, number) == (1, 1)

    await move(api, number, "needs_correction", missing=["id_card"])
    await move(api, number, "accepted", received=["id_card"])  # accepted again: no second notice, no second receipt
    await move(api, number, "processing")
    await move(api, number, "needs_correction", missing=["id_card"])
    await move(api, number, "processing", received=["id_card"])  # back to 办理中: told once already
    await move(api, number, "completed")

    assert [n.dedupe_key for n in await notices(api, number)] == [
        f"case:{number}:accepted",
        f"case:{number}:correction:1",
        f"case:{number}:processing",
        f"case:{number}:correction:2",
        f"case:{number}:ready",
    ]
    assert [j.dedupe_key for j in await jobs(api, number)] == [
        f"case:{number}:receipt",
        f"case:{number}:correction_notice:1",
        f"case:{number}:correction_notice:2",
    ]


@pytest.mark.parametrize("openid", [OPENID, None], ids=["wechat", "counter"])
async def test_a_replayed_change_writes_nothing_twice(api: Api, openid: str | None) -> None:
    number = await file(api, openid=openid)
    for to in ("accepted", "processing", "completed"):
        await move(api, number, to)
    written = await counts(api, number)
    async with api.app.ctx.db.write() as session:  # each event told again, as a replay would
        case = (await session.execute(select(Case).where(Case.case_number == number))).unique().scalar_one()
        for status in (CaseStatus.ACCEPTED, CaseStatus.PROCESSING, CaseStatus.COMPLETED):
            case.status = status
            links = api.app.ctx.follow_links
            await case_notices.write_notices(session, case, item_name=ITEM, missing=[], today=TODAY, links=links)
        receipt = documents.for_case("receipt", case, item_name=ITEM, links=links, now=utcnow())
        key = f"case:{number}:receipt"
        assert await case_notices.spool(session, receipt, printer="receipt", case_number=number, dedupe_key=key) is None
    assert await counts(api, number) == written


@pytest.mark.parametrize("openid", [OPENID, None], ids=["wechat", "counter"])
async def test_a_refused_change_writes_no_notice_and_prints_nothing(api: Api, openid: str | None) -> None:
    number = await file(api, openid=openid)
    refusals = [
        ({"to": "completed"}, 409, "illegal_transition"),
        ({"to": "rejected"}, 422, "reason_required"),
        ({"to": "needs_correction"}, 422, "nothing_missing"),
        ({"to": "needs_correction", "missing": ["lost_paper"]}, 422, "unknown_material"),
    ]
    for body, status, code in refusals:
        refused = await api.post(f"/api/v1/cases/{number}/transitions", json=body)
        assert (refused.status, refused.json["error"]["code"]) == (status, code)
    assert await counts(api, number) == (0, 0)


async def test_a_change_that_fails_after_its_notices_leaves_neither(
    api: Api, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = await file(api, openid=OPENID)

    async def printer_spool_fails(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(case_notices, "spool", printer_spool_fails)  # after the WeChat notice was written
    with pytest.raises(RuntimeError):
        await case_service.transition_case(
            api.app.ctx.db,
            catalog,
            number,
            StatusChange(to=CaseStatus.ACCEPTED),
            actor="test",
            today=TODAY,
            links=api.app.ctx.follow_links,
        )
    assert (await case_service.get_case(api.app.ctx.db, number)).status is CaseStatus.SUBMITTED
    assert await counts(api, number) == (0, 0)


async def test_staff_may_still_print_a_notice_again_by_hand(api: Api) -> None:
    number = await file(api, openid=None, item_id="disability_certificate", id_number=YOUNG_ID)
    await move(api, number, "rejected", reason=REASON)
    for kind in ("rejection_notice", "rejection_notice", "withdrawal_notice"):
        spooled = await api.post("/api/v1/print-jobs", json={"kind": kind, "case_number": number})
        assert spooled.status == 201, spooled.json
    assert [j.dedupe_key for j in await jobs(api, number)] == [f"case:{number}:rejection_notice", None, None, None]


# ---- the 办件状态变更 notice -----------------------------------------------------------------------------------------


def test_the_status_notice_has_its_own_template_setting() -> None:
    settings = WeChatSettings.from_env({"WECHAT_TEMPLATE_CASE_STATUS": " tpl_status "})
    notice = templates.case_status("JJ-20261126-0001", ITEM, "processing", "办理中")
    assert settings.templates.case_status == "tpl_status" and notice.template_id(settings.templates) == "tpl_status"
    assert notice.template_id(TemplateIds()) == ""  # no template: sent as a customer-service text
    assert notice.data()["keyword3"] == {"value": "办理中"} and "keyword4" not in notice.fields


def test_the_status_notice_words_each_change_and_refuses_others() -> None:
    texts = {
        status: templates.case_status("JJ-1", ITEM, status, CaseStatus(status).label, "原因写在这里。").text
        for status in templates.STATUS_WORDING
    }
    assert set(texts) == {"processing", "handed_out", "delivered", "rejected", "withdrawn"}
    assert all(text.startswith(("您的", "很抱歉")) and "（JJ-1，老年人优待证）" in text for text in texts.values())
    assert all("原因写在这里。" in text and "。。" not in text for text in texts.values())
    assert "原因：原因写在这里。" in texts["rejected"] and "说明：原因写在这里。" in texts["processing"]
    with pytest.raises(ValueError, match="accepted"):
        templates.case_status("JJ-1", ITEM, "accepted", "已受理")
