"""Social workers' visits and 代办 in the console (in-process, on SQLite and PostgreSQL): visits, filing with a code
sent by SMS or with a signature photo, photo checks, who may see what, home delivery; and the whole flow in
Chromium at a phone's size against a real backend process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update

from backend import consent, sms
from backend.config import PROJECT_ROOT, Settings
from backend.models import AuditEntry, Case, CaseAttachment, StaffRole, VisitFiling, utcnow
from harness.processes import backend_process, free_port
from tests.backend.test_console import CSRF_FIELD, PASSWORD, Browser, Centre
from tests.chromium import launched_chromium
from tests.conftest import ELDER_ID, YOUNG_ID, case_body, make_app, running

ITEM = (
    "elderly_preferential_card"  # 老年人优待证, 民政; materials with photos: id_card, proxy_id_card, power_of_attorney
)
STAGING_FIELD = re.compile(r'name="staging" value="([^"]+)"')
FILING_PATH = re.compile(r"^/console/filings/(\d+)")
CASE_PATH = re.compile(r"^/console/cases/(JJ-\d{8}-\d{4})")


def photo(kind: str = "PNG", size: tuple[int, int] = (60, 40)) -> bytes:
    """A real photo whose EXIF holds a GPS position (as a phone's camera writes it)."""
    image = Image.new("RGB", size, (30, 120, 200))
    exif = Image.Exif()
    exif[0x0110] = "Phone X"  # camera model
    exif[0x8825] = {1: "N", 2: (30.0, 16.0, 1.0), 3: "E", 4: (120.0, 4.0, 2.0)}  # GPS: a resident's home
    out = io.BytesIO()
    image.save(out, kind, exif=exif)
    return out.getvalue()


@dataclasses.dataclass
class Outbox:
    path: Path

    def messages(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines()]

    def last_code(self) -> str:
        return re.search(r"验证码 (\d{6})", self.messages()[-1]["text"]).group(1)


@dataclasses.dataclass
class Worker:
    """A signed-in browser of a social worker (or of anyone) with the steps of 代办."""

    browser: Browser

    async def add_visit(self, **fields: str) -> int:
        form = {"resident_name": "王秀英", "phone": "13812345678", "community": "骆家庄社区", "address": "3幢2单元"}
        form |= {"day": "2026-11-26", "note": "腿脚不便"} | fields
        added = await self.browser.post("/console/visits", {"csrf": await self.browser.csrf("/console/visits"), **form})
        assert added.status_code == 303, added.text
        return int(re.search(r"/console/visits/(\d+)", added.headers["location"]).group(1))

    async def file(
        self, visit_id: int, fields: dict | None = None, files: list | None = None, *, staging: str | None = None
    ) -> httpx.Response:
        page = await self.browser.get(f"/console/visits/{visit_id}/file?item={ITEM}")
        assert page.status_code == 200, page.text
        form = {
            "csrf": CSRF_FIELD.search(page.text).group(1),
            "staging": staging or STAGING_FIELD.search(page.text).group(1),
            "item": ITEM,
            "name": "王秀英",
            "id_number": ELDER_ID,
            "phone": "13812345678",
            "community": "骆家庄社区",
            "received": ["id_card"],
            "consent": "sms_code",
        } | (fields or {})
        return await self.browser.client.post(f"/console/visits/{visit_id}/file", data=form, files=files or [])

    async def confirm(self, filing_id: int, code: str) -> httpx.Response:
        csrf = await self.browser.csrf(f"/console/filings/{filing_id}")
        return await self.browser.post(f"/console/filings/{filing_id}/confirm", {"csrf": csrf, "code": code})

    async def add_photos(self, case_number: str, material: str, *files: tuple[str, bytes, str]) -> httpx.Response:
        csrf = await self.browser.csrf(f"/console/cases/{case_number}/photos")
        return await self.browser.client.post(
            f"/console/cases/{case_number}/photos",
            data={"csrf": csrf, "material": material},
            files=[("photo", upload) for upload in files],
        )


@dataclasses.dataclass
class Place:
    centre: Centre
    outbox: Outbox
    uploads: Path

    async def signed_in(self, username: str) -> Worker:
        browser = self.centre.browser()
        assert (await browser.sign_in(username)).status_code == 303
        return Worker(browser)

    async def case(self, number: str) -> Case:
        async with self.centre.api.app.ctx.db.read() as session:
            return (await session.execute(select(Case).where(Case.case_number == number))).unique().scalar_one()

    async def photos(self, number: str) -> list[CaseAttachment]:
        case = await self.case(number)
        async with self.centre.api.app.ctx.db.read() as session:
            statement = select(CaseAttachment).where(CaseAttachment.case_id == case.id).order_by(CaseAttachment.id)
            return list((await session.execute(statement)).scalars())

    async def file_with_code(self, worker: Worker, files: list | None = None) -> str:
        visit = await worker.add_visit()
        sent = await worker.file(visit, files=files)
        assert sent.status_code == 303, sent.text
        filed = await worker.confirm(int(FILING_PATH.match(sent.headers["location"]).group(1)), self.outbox.last_code())
        assert filed.status_code == 303, filed.text
        return CASE_PATH.match(filed.headers["location"]).group(1)


@pytest.fixture
async def place(database_url: str, catalog, tmp_path: Path) -> AsyncIterator[Place]:
    overrides = {
        "notifier_enabled": False,
        "uploads_dir": tmp_path / "uploads",
        "sms_outbox_path": tmp_path / "sms" / "outbox.jsonl",
        "upload_max_mb": 1,
    }
    async with running(make_app(database_url, catalog, **overrides)) as api:
        centre = Centre(api)
        api.set_today(dt.date(2026, 11, 26))
        for username, role, department in (
            ("shegong", StaffRole.SOCIAL_WORKER, None),
            ("shegong2", StaffRole.SOCIAL_WORKER, None),
            ("qiantai", StaffRole.FRONT_DESK, None),
            ("minzheng", StaffRole.DEPARTMENT, "民政"),
            ("yibao", StaffRole.DEPARTMENT, "医保"),
            ("guanli", StaffRole.ADMIN, None),
        ):
            await centre.staff(username, role, department)
        yield Place(centre, Outbox(overrides["sms_outbox_path"]), overrides["uploads_dir"])


# --- visits --------------------
async def test_visits_are_added_and_listed_today_first_and_only_to_their_social_worker(place: Place) -> None:
    worker = await place.signed_in("shegong")
    later = await worker.add_visit(resident_name="李阿婆", day="2026-11-28")
    today = await worker.add_visit(resident_name="王秀英", day="2026-11-26")
    missed = await worker.add_visit(resident_name="赵大爷", day="2026-11-20")
    listed = (await worker.browser.get("/console/visits")).text
    assert listed.index("今天") < listed.index("王秀英") < listed.index("接下来") < listed.index("李阿婆")
    assert listed.index("逾期未走访") < listed.index("赵大爷")
    assert "3幢2单元" in listed and "腿脚不便" in listed and "骆家庄社区" in listed
    refused = await worker.browser.post(
        "/console/visits", {"csrf": await worker.browser.csrf(), "resident_name": "孙奶奶", "address": "", "day": "x"}
    )
    assert refused.status_code == 422 and "请填写地址" in refused.text and 'value="孙奶奶"' in refused.text
    other = await place.signed_in("shegong2")
    assert "王秀英" not in (await other.browser.get("/console/visits")).text
    for visit in (later, today, missed):
        assert (await other.browser.get(f"/console/visits/{visit}")).status_code == 404
        assert (await other.browser.get(f"/console/visits/{visit}/file?item={ITEM}")).status_code == 404
    admin = (await (await place.signed_in("guanli")).browser.get("/console/visits")).text
    assert "王秀英" in admin and "社工 shegong" in admin
    front = await place.signed_in("qiantai")
    assert (await front.browser.get("/console/visits")).status_code == 403


# --- filing with a code sent to the resident --------------------
async def test_filing_with_an_sms_code_files_a_proxy_case_for_the_social_worker(place: Place) -> None:
    worker = await place.signed_in("shegong")
    visit = await worker.add_visit()
    sent = await worker.file(visit, files=[("photo:id_card", ("id.png", photo(), "image/png"))])
    assert sent.status_code == 303
    filing_id = int(FILING_PATH.match(sent.headers["location"]).group(1))
    (message,) = place.outbox.messages()
    assert message["phone"] == "138****5678" and "老年人优待证" in message["text"] and "shegong" in message["text"]
    code = place.outbox.last_code()
    async with place.centre.api.app.ctx.db.read() as session:
        waiting = await session.get(VisitFiling, filing_id)
    assert waiting.case_number is None and code not in waiting.code_hash  # only a salted hash is kept
    assert (await place.centre.api.get("/api/v1/cases")).json["total"] == 0  # nothing filed before consent
    wrong = await worker.confirm(filing_id, "000000" if code != "000000" else "111111")
    assert wrong.status_code == 422 and "验证码不对" in wrong.text and "还可以试 4 次" in wrong.text
    other = await place.signed_in("shegong2")
    assert (await other.browser.get(f"/console/filings/{filing_id}")).status_code == 404
    assert (await other.confirm(filing_id, code)).status_code == 404  # another worker cannot use the code
    filed = await worker.confirm(filing_id, code)
    assert filed.status_code == 303
    number = CASE_PATH.match(filed.headers["location"]).group(1)
    case = await place.case(number)
    assert case.channel.value == "proxy" and case.proxy_staff == "shegong" and case.consent == "sms_code"
    assert case.proxy_id_number is None and case.resident.id_number == ELDER_ID
    assert {m.material_id: m.status.value for m in case.materials}["id_card"] == "received"
    (attachment,) = await place.photos(number)
    assert attachment.material_id == "id_card" and attachment.uploaded_by == "shegong"
    page = (await worker.browser.get(filed.headers["location"])).text
    assert "已代办提交" in page and "社工 shegong 代办" in page and f"/console/attachments/{attachment.id}" in page
    assert number in (await worker.browser.get("/console/cases")).text  # in the worker's inbox
    visit_page = (await worker.browser.get(f"/console/visits/{visit}")).text
    assert number in visit_page and "已走访" in visit_page  # filing on a visit makes it
    again = await worker.confirm(filing_id, code)  # single use
    assert again.status_code == 409 and "已经用过" in again.text
    async with place.centre.api.app.ctx.db.read() as session:
        actions = list((await session.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars())
        assert (await session.get(VisitFiling, filing_id)).code_hash is None
    assert actions.count("case.create") == 1
    assert {"consent.code_sent", "consent.code_refused", "consent.confirmed", "case.photos"} <= set(actions)


async def test_an_expired_code_is_refused_and_wrong_codes_run_out(place: Place) -> None:
    worker = await place.signed_in("shegong")
    sent = await worker.file(await worker.add_visit())
    filing_id = int(FILING_PATH.match(sent.headers["location"]).group(1))
    code = place.outbox.last_code()
    async with place.centre.api.app.ctx.db.write() as session:
        await session.execute(update(VisitFiling).values(code_expires_at=utcnow()))
    expired = await worker.confirm(filing_id, code)
    assert expired.status_code == 422 and "已过期" in expired.text
    csrf = await worker.browser.csrf(f"/console/filings/{filing_id}")
    too_soon = await worker.browser.post(f"/console/filings/{filing_id}/resend", {"csrf": csrf})
    assert too_soon.status_code == 429 and "秒后" in too_soon.text
    async with place.centre.api.app.ctx.db.write() as session:  # a minute later
        await session.execute(update(VisitFiling).values(code_sent_at=utcnow() - consent.RESEND_AFTER))
    resent = await worker.browser.post(f"/console/filings/{filing_id}/resend", {"csrf": csrf})
    assert resent.status_code == 303 and len(place.outbox.messages()) == 2
    fresh = place.outbox.last_code()
    wrong = "123456" if fresh != "123456" else "654321"
    for _ in range(consent.MAX_ATTEMPTS - 1):
        assert (await worker.confirm(filing_id, wrong)).status_code == 422
    spent = await worker.confirm(filing_id, wrong)
    assert "错误次数过多" in spent.text
    assert "错误次数过多" in (await worker.confirm(filing_id, fresh)).text  # even the right code, now
    assert (await place.centre.api.get("/api/v1/cases")).json["total"] == 0


# --- filing with a signature photo --------------------
async def test_filing_with_a_signature_photo_and_nothing_is_lost_when_the_form_comes_back(place: Place) -> None:
    worker = await place.signed_in("shegong")
    visit = await worker.add_visit()
    first = await worker.file(
        visit,
        {"consent": "signature", "id_number": "330106194912310021"},  # a wrong check character
        files=[
            ("photo:id_card", ("front.png", photo(), "image/png")),
            ("photo:id_card", ("back.jpg", photo("JPEG"), "image/jpeg")),
        ],
    )
    assert first.status_code == 422
    assert "身份证号码校验位不对" in first.text and "请拍一张居民签名的照片" in first.text
    assert 'value="330106194912310021"' in first.text and 'value="signature" checked' in first.text
    assert "已收到的照片（2 张）" in first.text  # the photos wait for the corrected form
    staging = STAGING_FIELD.search(first.text).group(1)
    filed = await worker.file(
        visit,
        {"consent": "signature"},
        files=[("photo:signature", ("sign.jpg", photo("JPEG"), "image/jpeg"))],
        staging=staging,
    )
    assert filed.status_code == 303, filed.text
    number = CASE_PATH.match(filed.headers["location"]).group(1)
    case = await place.case(number)
    assert case.channel.value == "proxy" and case.proxy_staff == "shegong" and case.consent == "signature"
    assert sorted(p.material_id for p in await place.photos(number)) == ["id_card", "id_card", "signature"]
    assert place.outbox.messages() == []  # no code for a signature
    assert not (place.uploads / "_staging" / staging).exists()


# --- photo checks --------------------
async def test_only_real_photos_within_the_limits_are_kept_and_without_their_exif(place: Place) -> None:
    worker = await place.signed_in("shegong")
    number = await place.file_with_code(worker)
    text = await worker.add_photos(number, "id_card", ("id.jpg", b"this is not a photo at all", "image/jpeg"))
    assert text.status_code == 422 and "不是 JPEG 或 PNG 格式的照片" in text.text and "id.jpg" in text.text
    huge = await worker.add_photos(number, "id_card", ("big.jpg", b"\xff\xd8" + bytes(1024 * 1024 + 10), "image/jpeg"))
    assert huge.status_code == 422 and "太大" in huge.text and "最多 1 MB" in huge.text
    bomb = io.BytesIO()
    Image.new("1", (8000, 8000)).save(bomb, "PNG")  # 64 million pixels in a few KB
    refused = await worker.add_photos(number, "id_card", ("bomb.png", bomb.getvalue(), "image/png"))
    assert refused.status_code == 422 and "像素太多" in refused.text
    assert await place.photos(number) == []
    original = photo("PNG")
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825) is not None
    kept = await worker.add_photos(number, "power_of_attorney", ("委托书.png", original, "image/png"))
    assert kept.status_code == 200 and "已上传 1 张照片" in kept.text
    (attachment,) = await place.photos(number)
    stored = place.uploads / number / attachment.stored_name
    data = stored.read_bytes()
    assert attachment.content_type == "image/png" and attachment.size == len(data)
    assert attachment.sha256 == hashlib.sha256(data).hexdigest() and data != original
    assert "委托书" not in attachment.stored_name and re.fullmatch(r"power_of_attorney\.[\w-]{22}\.png", stored.name)
    served = await worker.browser.get(f"/console/attachments/{attachment.id}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png" and served.content == data
    assert served.headers["x-content-type-options"] == "nosniff" and "no-store" in served.headers["cache-control"]
    cleaned = Image.open(io.BytesIO(served.content))
    assert cleaned.size == (60, 40) and not cleaned.getexif() and "exif" not in cleaned.info


async def test_a_form_with_too_many_photos_keeps_what_was_typed(place: Place) -> None:
    worker = await place.signed_in("shegong")
    visit = await worker.add_visit()
    blob = bytes(900 * 1024)  # past the form's limit (4 photos of the 1 MB allowed + 1 MB) after six of these
    files = [("photo:id_card", (f"p{i}.jpg", blob, "image/jpeg")) for i in range(7)]
    cut = await worker.file(visit, {"id_number": ELDER_ID, "community": "骆家庄西苑"}, files=files)
    assert cut.status_code == 422 and "后面的照片没有收到" in cut.text
    assert 'value="骆家庄西苑"' in cut.text and f'value="{ELDER_ID}"' in cut.text


# --- who may see what --------------------
async def test_photos_are_shown_only_to_staff_who_may_see_their_case(place: Place) -> None:
    worker = await place.signed_in("shegong")
    number = await place.file_with_code(worker, files=[("photo:id_card", ("id.png", photo(), "image/png"))])
    (attachment,) = await place.photos(number)
    path = f"/console/attachments/{attachment.id}"
    for username, status in (("shegong", 200), ("minzheng", 200), ("qiantai", 200), ("guanli", 200)):
        assert (await (await place.signed_in(username)).browser.get(path)).status_code == status, username
    other, yibao = await place.signed_in("shegong2"), await place.signed_in("yibao")
    for staff in (other, yibao):
        assert (await staff.browser.get(path)).status_code == 404
        assert (await staff.browser.get(f"/console/cases/{number}")).status_code == 404
    assert number not in (await other.browser.get("/console/cases?all=1")).text
    csrf = await other.browser.csrf("/console/visits")
    posted = await other.browser.client.post(
        f"/console/cases/{number}/photos",
        data={"csrf": csrf, "material": "id_card"},
        files=[("photo", ("x.png", photo(), "image/png"))],
    )
    assert posted.status_code == 404 and len(await place.photos(number)) == 1
    minzheng = await place.signed_in("minzheng")
    assert (await minzheng.browser.get(f"/console/cases/{number}/photos")).status_code == 403  # departments only look
    assert (await other.browser.get(f"{path}x")).status_code == 404


async def test_a_proxy_needs_an_id_number_unless_a_staff_account_files(place: Place) -> None:
    api = place.centre.api
    nobody = {"name": "李某", "consent": "in_person"}
    refused = await api.post("/api/v1/cases", json=case_body(channel="proxy", proxy=nobody))
    assert refused.status == 422 and refused.json["error"]["code"] == "proxy_id_required"
    staff = {"name": "shegong", "staff_username": "shegong", "consent": "signature"}
    assert (await api.post("/api/v1/cases", json=case_body(channel="proxy", proxy=staff))).status == 201
    person = {"name": "李某", "id_number": YOUNG_ID, "consent": "in_person"}
    assert (await api.post("/api/v1/cases", json=case_body(channel="proxy", proxy=person))).status == 201


# --- home delivery (零次跑) --------------------
async def test_the_social_worker_records_who_received_the_result_at_home(place: Place) -> None:
    worker = await place.signed_in("shegong")
    number = await place.file_with_code(worker)
    front, department = await place.signed_in("qiantai"), await place.signed_in("minzheng")
    assert (await front.browser.act(number, "accepted", **{"material:id_card": "received"})).status_code == 303
    assert (await department.browser.act(number, "processing")).status_code == 303
    assert (await department.browser.act(number, "completed")).status_code == 303
    page = (await worker.browser.get(f"/console/cases/{number}")).text
    assert f"/console/cases/{number}/delivery" in page and 'value="delivered"' not in page
    csrf = await worker.browser.csrf(f"/console/cases/{number}/delivery")
    empty = await worker.browser.post(f"/console/cases/{number}/delivery", {"csrf": csrf, "receiver": ""})
    assert empty.status_code == 422 and "签收人" in empty.text
    delivered = await worker.browser.post(
        f"/console/cases/{number}/delivery",
        {"csrf": csrf, "receiver": "王小明", "relation": "家属", "note": "证件已当面核对"},
    )
    assert delivered.status_code == 303
    case = await place.case(number)
    assert case.status.value == "delivered"
    assert case.status_reason == "上门送达，签收人：王小明（家属）；证件已当面核对"
    shown = (await worker.browser.get(f"/console/cases/{number}")).text
    assert "送达记录" in shown and "签收人：王小明（家属）" in shown and "办结 → 已送达" in shown
    late = await worker.browser.post(f"/console/cases/{number}/delivery", {"csrf": csrf, "receiver": "王小明"})
    assert late.status_code == 409


# --- the SMS sender --------------------
async def test_the_outbox_sender_masks_the_phone_in_the_log_and_unknown_senders_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sender = sms.create_sender(Settings(sms_outbox_path=tmp_path / "o.jsonl"))
    with caplog.at_level("INFO", logger="backend.sms"):
        await sender.send("13812345678", "验证码 123456", purpose="proxy_consent")
    assert "138****5678" in caplog.text and "13812345678" not in caplog.text and "123456" not in caplog.text
    assert json.loads((tmp_path / "o.jsonl").read_text(encoding="utf-8"))["phone"] == "138****5678"  # masked
    assert stat.S_IMODE((tmp_path / "o.jsonl").stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="SMS_SENDER: unknown sender 'aliyun'"):
        sms.create_sender(Settings(sms_sender="aliyun"))


# --- the whole flow in a browser at a phone's size --------------------
@pytest.fixture(scope="module")
def chromium() -> Iterator:
    with launched_chromium() as launched:
        yield launched


def test_a_social_worker_files_for_a_resident_on_a_phone(chromium, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    database = f"sqlite:///{tmp_path / 'jiujin.db'}"
    added = subprocess.run(
        [
            str(PROJECT_ROOT / "bin" / "jiujin"),
            "staff",
            "add",
            "shegong",
            "--role",
            "social_worker",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=os.environ | {"DATABASE_URL": database},
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    outbox = Outbox(tmp_path / "sms" / "outbox.jsonl")
    env = {"UPLOADS_DIR": str(tmp_path / "uploads"), "SMS_OUTBOX_PATH": str(outbox.path), "NOTIFIER_ENABLED": "0"}
    id_photo = tmp_path / "id-card.jpg"
    id_photo.write_bytes(photo("JPEG", (1200, 800)))
    with backend_process(database, free_port(), tmp_path / "backend.log", env=env) as base:
        context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        page = context.new_page()
        page.goto(f"{base}/console/visits")
        page.fill("#username", "shegong")
        page.fill("#password", PASSWORD)
        page.click("button:has-text('登录')")
        expect(page.locator("h1")).to_have_text("走访代办")
        page.click("text=＋ 新增走访")
        page.fill("#resident_name", "王秀英")
        page.fill("#phone", "13812345678")
        page.fill("#community", "骆家庄社区")
        page.fill("#address", "3幢2单元501")
        page.fill("#note", "腿脚不便，办老年优待证")
        page.screenshot(path=str(tmp_path / "1-visit-form.png"), full_page=True)
        page.click("button:has-text('保存走访')")
        expect(page.locator(".done")).to_contain_text("已添加走访")
        page.click("text=← 走访列表")
        expect(page.locator("a.card")).to_contain_text("3幢2单元501")
        page.screenshot(path=str(tmp_path / "2-visits.png"), full_page=True)
        page.click("a.card:has-text('王秀英')")
        page.click("text=为居民代办（零次跑）")
        page.click("text=老年人优待证")
        page.fill("#id_number", ELDER_ID)
        page.check("input[name=received][value=id_card]")
        page.set_input_files("#photo-id_card", str(id_photo))
        submit = page.locator("button:has-text('提交代办')")
        assert submit.bounding_box()["height"] >= 48  # a thumb, not a mouse
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        page.screenshot(path=str(tmp_path / "3-filing-form.png"), full_page=True)
        submit.click()
        expect(page.locator(".done")).to_contain_text("验证码已发送到 138****5678")
        page.fill("#code", outbox.last_code())
        page.screenshot(path=str(tmp_path / "4-code.png"), full_page=True)
        page.click("button:has-text('确认并提交代办')")
        expect(page.locator(".done")).to_contain_text("已代办提交")
        number = re.search(r"JJ-\d{8}-\d{4}", page.url).group(0)
        expect(page.locator("body")).to_contain_text("社工 shegong 代办")
        with page.expect_response(re.compile(r"/console/attachments/\d+$")) as shown:
            page.click("a[href^='/console/attachments/']")
        assert shown.value.status == 200 and shown.value.headers["content-type"] == "image/jpeg"
        page.go_back()
        page.screenshot(path=str(tmp_path / "5-case.png"), full_page=True)
        page.goto(f"{base}/console/cases")
        expect(page.locator("table")).to_contain_text(number)
        page.screenshot(path=str(tmp_path / "6-inbox.png"), full_page=True)
        context.close()
    for name in ("1-visit-form", "2-visits", "3-filing-form", "4-code", "5-case", "6-inbox"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
