"""WeChat notices: written with the case or queue change they report (once per event), sent by the notifier with
backoff, listed for staff with OpenIDs masked. Fake senders stand in for WeChat; nothing leaves the machine."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from backend.catalog.schema import Catalog
from backend.db import Database
from backend.models import Notification, NotificationStatus, as_utc, utcnow
from backend.notices import outbox as notifications
from backend.notices import sender as notifier
from harness.processes import free_port
from tests.conftest import ELDER_ID, YOUNG_ID, Api, case_body, make_app, running
from tests.waiting import eventually
from wechat import templates
from wechat.settings import TemplateIds, WeChatSettings
from wechat.templates import Notice

OPENID = "oJiuJin_resident-0001"
MASKED = "oJiu****"


@pytest.fixture
async def api(database_url: str, catalog: Catalog) -> AsyncIterator[Api]:
    """A backend whose sender is off: the tests decide when notices go out."""
    async with running(make_app(database_url, catalog, notifier_enabled=False)) as client:
        yield client


@pytest.fixture
def now() -> dt.datetime:
    """The pass's clock: a little after the notices the test writes (which are due from the moment they are)."""
    return utcnow().replace(microsecond=0) + dt.timedelta(seconds=2)


async def rows(db: Database) -> list[Notification]:
    async with db.read() as session:
        return list((await session.execute(select(Notification).order_by(Notification.id))).scalars())


async def listed(api: Api, **params: str) -> list[dict]:
    response = await api.get("/api/v1/notifications", params=params)
    assert response.status == 200, response.json
    return response.json


async def move(api: Api, number: str, to: str, **extra: list[str]) -> dict:
    response = await api.post(f"/api/v1/cases/{number}/transitions", json={"to": to, **extra})
    assert response.status == 200, response.json
    return response.json


# ---- written with the change -----------------------------------------------------------------------------------


async def test_accepted_correction_processing_and_ready_each_write_one_notice(api: Api) -> None:
    api.set_today(dt.date(2026, 11, 26))
    received = ["id_card", "photo_2inch", "application_form"]
    body = case_body(
        "disability_certificate", YOUNG_ID, channel="wechat", wechat_openid=OPENID, materials_received=received
    )
    filed = await api.post("/api/v1/cases", json=body)
    assert filed.status == 201, filed.json
    number = filed.json["case_number"]
    assert await listed(api) == []  # filing itself is answered in the chat

    deadline = dt.date.fromisoformat((await move(api, number, "accepted"))["deadline"])
    correction = await move(api, number, "needs_correction", missing=["photo_2inch", "application_form"])
    assert len(correction["missing"]) == 2
    await move(api, number, "processing", received=["photo_2inch", "application_form"])
    await move(api, number, "completed")

    newest_first = await listed(api, subject=number)
    kinds = [n["kind"] for n in newest_first]
    assert kinds == ["ready_for_pickup", "case_status", "correction_needed", "case_accepted"]
    ready, processing, needs, accepted = newest_first
    assert {n["wechat_openid"] for n in newest_first} == {MASKED}
    assert {n["status"] for n in newest_first} == {"pending"} and {n["attempts"] for n in newest_first} == {0}
    item = "中华人民共和国残疾人证申领"
    on = f"{deadline.year}年{deadline.month}月{deadline.day}日"
    assert accepted["text"] == f"您的申请已受理。办件编号 {number}，事项：{item}，预计 {on} 前办结。"
    first, second = correction["missing"]
    assert f"请一次带齐：\n1. {first}\n2. {second}\n" in needs["text"] and number in needs["text"]
    assert ready["text"] == f"您的事项已办好（{number}，{item}），请带上身份证到骆家庄便民服务中心出件窗口领取。"
    assert processing["text"] == f"您的申请（{number}，{item}）正在办理中。办好后我们会再通知您。"

    stored = await rows(api.app.ctx.db)
    assert stored[0].wechat_openid == OPENID and stored[0].payload["fields"]["keyword3"] == "2026年11月26日"
    assert [n.dedupe_key for n in stored] == [
        f"case:{number}:accepted",
        f"case:{number}:correction:1",
        f"case:{number}:processing",
        f"case:{number}:ready",
    ]


async def test_immediate_case_says_so_and_a_case_without_openid_gets_nothing(api: Api) -> None:
    with_openid = await api.post("/api/v1/cases", json=case_body(channel="wechat", wechat_openid=OPENID))
    without = await api.post("/api/v1/cases", json=case_body("senior_transit_card"))
    await move(api, with_openid.json["case_number"], "accepted")
    await move(api, without.json["case_number"], "accepted")
    notices = await listed(api)
    assert len(notices) == 1 and notices[0]["subject"] == with_openid.json["case_number"]
    assert "即办件，当场办结" in notices[0]["text"]


async def test_repeats_add_nothing_but_each_round_of_correction_is_told(api: Api) -> None:
    filed = await api.post(
        "/api/v1/cases", json=case_body(wechat_openid=OPENID, materials_received=["id_card", "photo"])
    )
    number = filed.json["case_number"]
    await move(api, number, "accepted")
    again = await api.post(f"/api/v1/cases/{number}/transitions", json={"to": "accepted"})
    assert again.status == 409 and again.json["error"]["code"] == "illegal_transition"
    assert len(await rows(api.app.ctx.db)) == 1

    await move(api, number, "needs_correction", missing=["id_card"])
    await move(api, number, "accepted", received=["id_card"])  # accepted again: no second 已受理 notice
    await move(api, number, "needs_correction", missing=["id_card"])
    keys = [n.dedupe_key for n in await rows(api.app.ctx.db)]
    assert keys == [f"case:{number}:accepted", f"case:{number}:correction:1", f"case:{number}:correction:2"]

    async with api.app.ctx.db.write() as session:  # a replay of the same event
        replay = templates.ready_for_pickup(number, "老年人优待证")
        assert await notifications.enqueue(session, replay, OPENID, number, f"case:{number}:accepted") is False
    assert len(await rows(api.app.ctx.db)) == 3


async def test_a_refused_change_writes_no_notice(api: Api) -> None:
    filed = await api.post("/api/v1/cases", json=case_body(wechat_openid=OPENID, materials_received=["id_card"]))
    refused = await api.post(f"/api/v1/cases/{filed.json['case_number']}/transitions", json={"to": "needs_correction"})
    assert refused.status == 422 and refused.json["error"]["code"] == "nothing_missing"
    assert await rows(api.app.ctx.db) == []


async def test_a_wechat_ticket_is_told_once_when_three_are_ahead(api: Api) -> None:
    async def take(category: str = "A", openid: str | None = None) -> dict:
        body = {"category": category, "channel": "wechat" if openid else "counter", "wechat_openid": openid}
        response = await api.post("/api/v1/queue/tickets", json={k: v for k, v in body.items() if v})
        assert response.status == 201, response.json
        return response.json

    async def call() -> None:
        assert (await api.post("/api/v1/queue/windows/1/call-next")).status == 200

    for _ in range(4):
        await take()
    mine = await take(openid=OPENID)
    assert mine["number"] == "A005" and mine["ahead"] == 4
    await call()  # A001: A002, A003, A004 ahead of A005
    notices = await listed(api)
    assert [(n["kind"], n["subject"]) for n in notices] == [("queue_near", "A005")]
    assert notices[0]["text"] == "快到您了：您的号 A005，前面还有 3 位。请回到大厅留意叫号。"

    await take("V")  # a 绿色通道 ticket goes first: four ahead again
    await call()  # V001: three ahead once more, but the holder has been told
    assert (await api.get("/api/v1/queue/tickets/A005")).json["ahead"] == 3
    for _ in range(3):
        await call()
    assert len(await rows(api.app.ctx.db)) == 1
    assert (await rows(api.app.ctx.db))[0].dedupe_key == f"ticket:{mine['id']}:near"


# ---- sending -----------------------------------------------------------------------------------------------------


class Recording:
    """A sender that delivers everything, and remembers what."""

    def __init__(self, via: str = "template") -> None:
        self.via = via
        self.sent: list[tuple[str, str]] = []

    async def send(self, openid: str, notice: Notice) -> str:
        self.sent.append((openid, notice.text))
        return self.via


class Failing:
    """A sender that fails ``times`` times (with a token and the OpenID in the error, as real errors may have)."""

    def __init__(self, times: int = 1_000) -> None:
        self.times = times
        self.calls = 0

    async def send(self, openid: str, notice: Notice) -> str:
        self.calls += 1
        if self.calls <= self.times:
            raise ConnectionError(f"POST /cgi-bin/message/template/send?access_token=TOKEN-123&x=1 for {openid}")
        return "customer_service"


async def add(db: Database, count: int = 1) -> None:
    async with db.write() as session:
        for n in range(1, count + 1):
            notice = templates.queue_near(f"A{n:03d}", 3)
            await notifications.enqueue(session, notice, f"{OPENID}{n}", f"A{n:03d}", f"ticket:{n}:near")


async def test_send_due_sends_in_order_and_marks_sent(api: Api, now: dt.datetime) -> None:
    db = api.app.ctx.db
    await add(db, 3)
    sender = Recording()
    assert await notifier.send_due(db, sender, now) == 3
    assert [openid for openid, _ in sender.sent] == [f"{OPENID}1", f"{OPENID}2", f"{OPENID}3"]
    assert sender.sent[0][1].startswith("快到您了：您的号 A001")
    stored = await rows(db)
    assert {(n.status, n.via, n.attempts) for n in stored} == {(NotificationStatus.SENT, "template", 1)}
    assert {as_utc(n.sent_at) for n in stored} == {now}
    assert await notifier.send_due(db, sender, now + dt.timedelta(hours=1)) == 0 and len(sender.sent) == 3
    sent = await listed(api, status="sent")
    assert len(sent) == 3 and sent[0]["next_attempt_at"] is None and sent[0]["wechat_openid"] == MASKED


async def test_failures_back_off_and_the_twelfth_gives_up(api: Api, now: dt.datetime) -> None:
    db = api.app.ctx.db
    await add(db)
    sender = Failing()
    assert await notifier.send_due(db, sender, now) == 1
    (row,) = await rows(db)
    assert row.status is NotificationStatus.PENDING and row.attempts == 1
    assert as_utc(row.next_attempt_at) == now + dt.timedelta(seconds=5)
    assert "TOKEN-123" not in row.last_error and OPENID not in row.last_error and MASKED in row.last_error
    assert await notifier.send_due(db, sender, now + dt.timedelta(seconds=4)) == 0  # not due yet

    waits = [5]
    at = as_utc(row.next_attempt_at)
    while row.status is NotificationStatus.PENDING:
        assert await notifier.send_due(db, sender, at) == 1
        (row,) = await rows(db)
        if row.status is NotificationStatus.PENDING:
            waits.append(int((as_utc(row.next_attempt_at) - at).total_seconds()))
            at = as_utc(row.next_attempt_at)
    assert waits == [5, 10, 20, 40, 80, 160, 320, 600, 600, 600, 600]
    assert row.status is NotificationStatus.FAILED and row.attempts == 12 == sender.calls
    assert await notifier.send_due(db, sender, at + dt.timedelta(days=1)) == 0
    failed = await listed(api, status="failed")
    assert len(failed) == 1 and failed[0]["last_error"].startswith("ConnectionError")


async def test_a_follower_who_unfollowed_is_not_tried_again(api: Api, now: dt.datetime) -> None:
    db = api.app.ctx.db
    await add(db)

    class Unfollowed:
        async def send(self, openid: str, notice: Notice) -> str:
            raise WeChatClientException(43004, "require subscribe")

    assert await notifier.send_due(db, Unfollowed(), now) == 1
    (row,) = await rows(db)
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1) and "43004" in row.last_error


async def test_a_retry_that_succeeds_is_sent(api: Api, now: dt.datetime) -> None:
    db = api.app.ctx.db
    await add(db)
    sender = Failing(times=2)
    at = now
    for _ in range(3):
        await notifier.send_due(db, sender, at)
        at += dt.timedelta(minutes=10)
    (row,) = await rows(db)
    assert (row.status, row.via, row.attempts) == (NotificationStatus.SENT, "customer_service", 3)


async def test_a_lease_keeps_a_notice_from_a_second_worker_until_it_ends(api: Api, now: dt.datetime) -> None:
    db = api.app.ctx.db
    await add(db, 15)
    lease = dt.timedelta(seconds=60)
    first, second = await asyncio.gather(
        notifications.claim_due(db, now, limit=10, lease=lease),
        notifications.claim_due(db, now, limit=10, lease=lease),
    )
    ids = [n.id for n in first + second]
    assert len(ids) == 15 == len(set(ids))
    assert await notifications.claim_due(db, now + dt.timedelta(seconds=59), limit=20, lease=lease) == []
    again = await notifications.claim_due(db, now + dt.timedelta(seconds=60), limit=20, lease=lease)
    assert len(again) == 15 and {n.attempts for n in again} == {2}  # the worker died: sent again, counted


async def test_the_running_sender_delivers(api: Api) -> None:
    await add(api.app.ctx.db, 2)
    sender = Recording()
    task = asyncio.create_task(notifier.run(api.app.ctx.db, sender, 0.01))
    try:
        await eventually(lambda: len(sender.sent) == 2, 20, "both notices sent")
    finally:
        await notifier.stop(task)
    assert len(sender.sent) == 2


async def test_the_list_filters_and_checks_its_query(api: Api) -> None:
    await add(api.app.ctx.db, 2)
    assert [n["subject"] for n in await listed(api)] == ["A002", "A001"]
    assert [n["subject"] for n in await listed(api, subject="a001")] == ["A001"]
    assert len(await listed(api, limit="1")) == 1
    assert await listed(api, status="failed") == []
    bad = await api.get("/api/v1/notifications", params={"status": "lost"})
    assert bad.status == 422 and bad.json["error"]["field"] == "status"


# ---- the WeChat sender and start-up --------------------------------------------------------------------------------


class FakeApi:
    """The parts of WeChatApi that send_notice uses."""

    def __init__(self) -> None:
        self.settings = WeChatSettings(templates=TemplateIds(case_accepted="tpl_accepted"))
        self.templates: list[tuple[str, str]] = []

    async def send_template(self, openid: str, template_id: str, data: dict) -> int:
        self.templates.append((openid, template_id))
        return 1


class FakeCustomerService:
    def __init__(self) -> None:
        self.texts: list[str] = []

    allowance_left = True

    async def deliver(self, openid: str, text: str) -> bool:
        self.texts.append(text)
        return self.allowance_left


async def test_wechat_sender_uses_a_template_where_one_is_configured() -> None:
    api, service = FakeApi(), FakeCustomerService()
    sender = notifier.WeChatSender(api, service)  # type: ignore[arg-type]
    accepted = templates.case_accepted("JJ-20261126-0001", "老年人优待证", "2026年11月26日", None)
    assert await sender.send(OPENID, accepted) == "template"
    assert await sender.send(OPENID, templates.queue_near("A005", 3)) == "customer_service"
    assert api.templates == [(OPENID, "tpl_accepted")] and service.texts[0].startswith("快到您了")
    service.allowance_left = False  # the text waits in the follower's outbox: not reported as sent
    assert await sender.send(OPENID, templates.queue_near("A006", 3)) == "held"


async def test_without_wechat_credentials_the_sender_does_not_start(
    sqlite_url: str, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_APPID", raising=False)
    monkeypatch.delenv("WECHAT_SECRET", raising=False)
    async with running(make_app(sqlite_url, catalog)) as api:
        assert api.app.ctx.notifier is None
        await api.post("/api/v1/cases", json=case_body(ELDER_ID, wechat_openid=OPENID))


async def test_the_started_sender_retries_an_unreachable_wechat_without_leaking_secrets(
    sqlite_url: str, catalog: Catalog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WECHAT_APPID", "wx0123456789abcdef")
    monkeypatch.setenv("WECHAT_SECRET", "app-secret-value")
    monkeypatch.setenv("WECHAT_API_BASE_URL", f"http://127.0.0.1:{free_port()}/cgi-bin/")  # nothing listens
    monkeypatch.setenv("WECHAT_STATE_PATH", str(tmp_path / "wechat-state.db"))
    monkeypatch.setenv("WECHAT_TEMPLATE_CASE_ACCEPTED", "tpl_case_accepted")  # a template message, not the outbox
    async with running(make_app(sqlite_url, catalog, notifier_interval_s=0.05)) as api:
        assert api.app.ctx.notifier is not None
        filed = await api.post("/api/v1/cases", json=case_body(wechat_openid=OPENID))
        await move(api, filed.json["case_number"], "accepted")
        # The attempt is counted when the notice is leased and its error written when the attempt fails: wait for the
        # error (up to 30 s: on a loaded machine the first attempt, a refused connection, may be late).
        for _ in range(600):
            (row,) = await rows(api.app.ctx.db)
            if row.last_error:
                break
            await asyncio.sleep(0.05)
    # Still pending, to be tried again (the number of attempts so far depends on how fast the loop came round).
    assert row.status is NotificationStatus.PENDING and row.attempts >= 1 and row.last_error
    assert "app-secret-value" not in row.last_error and OPENID not in row.last_error
