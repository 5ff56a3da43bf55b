"""The staff console over HTTP (in-process, on SQLite and PostgreSQL): signing in, lockout, CSRF, session fixation
and expiry, what each role sees and may do, and a case worked from acceptance to hand-out."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from backend.console.guard import LOGIN_COOKIE, SESSION_COOKIE
from backend.models import AuditEntry, Case, StaffRole, StaffSession, StaffUser
from backend.services.staff_sessions import IDLE, MAX_FAILURES, REFUSED
from tests.conftest import ELDER_ID, Api, case_body, make_app, running
from tests.conftest import YOUNG_ID as OTHER_ID

PASSWORD = "correct horse 9"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Browser:
    """One browser: its own cookie jar, over HTTPS (the console's cookies are Secure)."""

    client: httpx.AsyncClient

    async def get(self, path: str, **kwargs) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, data: dict | list, **kwargs) -> httpx.Response:
        return await self.client.post(path, data=data, **kwargs)

    async def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        form = await self.get("/console/login")
        token = CSRF_FIELD.search(form.text).group(1)
        return await self.post("/console/login", {"csrf": token, "username": username, "password": password})

    async def csrf(self, path: str = "/console/cases") -> str:
        return CSRF_FIELD.search((await self.get(path)).text).group(1)

    async def act(self, case_number: str, to: str, **fields: str) -> httpx.Response:
        form = {"csrf": await self.csrf(f"/console/cases/{case_number}"), "to": to, **fields}
        return await self.post(f"/console/cases/{case_number}/transition", form)


@dataclass
class Centre:
    api: Api

    def browser(self) -> Browser:
        transport = httpx.ASGITransport(app=self.api.app)
        return Browser(httpx.AsyncClient(transport=transport, base_url="https://jiujin.test"))

    async def staff(self, username: str, role: StaffRole, department: str | None = None) -> None:
        async with self.api.app.ctx.db.write() as session:
            session.add(
                StaffUser(
                    username=username, role=role, department=department, password_hash=PasswordHasher().hash(PASSWORD)
                )
            )

    async def file(self, item_id: str = "elderly_preferential_card", id_number: str = ELDER_ID, **extra) -> str:
        response = await self.api.post("/api/v1/cases", json=case_body(item_id, id_number, **extra))
        assert response.status == 201, response.text
        return response.json["case_number"]

    async def status(self, case_number: str) -> str:
        async with self.api.app.ctx.db.read() as session:
            case = (await session.execute(select(Case).where(Case.case_number == case_number))).unique().scalar_one()
            return case.status.value


async def account_of(centre: Centre, username: str) -> StaffUser:
    async with centre.api.app.ctx.db.read() as session:
        return (await session.execute(select(StaffUser).where(StaffUser.username == username))).scalar_one()


ADMIN_PAGES_STAFF = (
    ("guanli", StaffRole.ADMIN, None),
    ("qiantai", StaffRole.FRONT_DESK, None),
    ("minzheng", StaffRole.DEPARTMENT, "民政"),
    ("shegong", StaffRole.SOCIAL_WORKER, None),
)
"""The staff of the admin pages' tests: an admin, the front desk, 民政 and a social worker."""


@contextlib.asynccontextmanager
async def admin_pages_centre(database_url: str, catalog, **settings: Any) -> AsyncIterator[Centre]:
    """A centre with ADMIN_PAGES_STAFF on a fresh backend (``settings`` added to the backend's)."""
    async with running(make_app(database_url, catalog, notifier_enabled=False, **settings)) as api:
        centre = Centre(api)
        for username, role, department in ADMIN_PAGES_STAFF:
            await centre.staff(username, role, department)
        yield centre


async def admin(centre: Centre) -> Browser:
    """A browser signed in as the admin (guanli)."""
    browser = centre.browser()
    assert (await browser.sign_in("guanli")).status_code == 303
    return browser


@pytest.fixture
async def centre(database_url: str, catalog) -> AsyncIterator[Centre]:
    async with running(make_app(database_url, catalog, notifier_enabled=False)) as api:
        centre = Centre(api)
        await centre.staff("qiantai", StaffRole.FRONT_DESK)
        await centre.staff("minzheng", StaffRole.DEPARTMENT, "民政")
        await centre.staff("yibao", StaffRole.DEPARTMENT, "医保")
        await centre.staff("shegong", StaffRole.SOCIAL_WORKER)
        yield centre


# --- signing in ---------------------------------------------------------------------------------------------------
async def test_signing_in_sets_a_host_only_secure_session_cookie(centre: Centre) -> None:
    browser = centre.browser()
    first = await browser.get("/console", follow_redirects=False)
    assert first.status_code in (301, 302, 303, 307, 308)
    assert (
        (await browser.get("/console/cases", follow_redirects=False)).headers["location"].startswith("/console/login")
    )
    signed_in = await browser.sign_in("qiantai")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/cases"
    cookie = next(h for h in signed_in.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert all(part in cookie.lower() for part in ("secure", "httponly", "samesite=strict", "path=/"))
    assert "domain=" not in cookie.lower()
    inbox = await browser.get("/console/cases")
    assert inbox.status_code == 200 and "qiantai" in inbox.text and "前台受理" in inbox.text
    assert (
        inbox.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in inbox.headers["content-security-policy"]
    )


async def test_wrong_passwords_lock_the_account_and_unknown_names_get_the_same_answer(centre: Centre) -> None:
    browser = centre.browser()
    unknown = await browser.sign_in("nobody", "whatever-1")
    wrong = await browser.sign_in("qiantai", "wrong-password")
    assert unknown.status_code == wrong.status_code == 401
    assert "用户名或密码不正确" in unknown.text and "用户名或密码不正确" in wrong.text
    for _ in range(MAX_FAILURES - 2):
        await browser.sign_in("qiantai", "wrong-password")
    locked = await browser.sign_in("qiantai", "wrong-password")
    assert locked.status_code == 401 and REFUSED in locked.text  # the same answer: nothing says "this name exists"
    assert (await account_of(centre, "qiantai")).locked_until is not None
    still = await browser.sign_in("qiantai")  # the right password does not open a locked account
    assert still.status_code == 401 and REFUSED in still.text
    async with centre.api.app.ctx.db.write() as session:  # the lock runs out
        await session.execute(
            update(StaffUser).where(StaffUser.username == "qiantai").values(locked_until=dt.datetime.now(dt.UTC))
        )
    assert (await browser.sign_in("qiantai")).status_code == 303
    async with centre.api.app.ctx.db.read() as session:
        refusals = (
            await session.execute(select(AuditEntry.detail).where(AuditEntry.action == "staff.login_refused"))
        ).scalars()
        reasons = [detail["reason"] for detail in refusals]
    assert reasons.count("password") == MAX_FAILURES - 1 and "locked_now" in reasons and "locked" in reasons


async def test_the_login_form_needs_its_own_token(centre: Centre) -> None:
    browser = centre.browser()
    await browser.get("/console/login")
    forged = await browser.post("/console/login", {"csrf": "forged", "username": "qiantai", "password": PASSWORD})
    assert forged.status_code == 403 and SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    browser.client.cookies.delete(LOGIN_COOKIE)
    assert (await browser.post("/console/login", {"username": "qiantai", "password": PASSWORD})).status_code == 403


async def test_signing_in_makes_a_new_session_and_ends_the_old_one(centre: Centre) -> None:
    browser = centre.browser()
    await browser.sign_in("qiantai")
    planted = browser.client.cookies.get(SESSION_COOKIE)
    await browser.sign_in("minzheng")  # the same browser signs in again (or an attacker planted a session)
    fresh = browser.client.cookies.get(SESSION_COOKIE)
    assert fresh != planted
    old = centre.browser()
    old.client.cookies.set(SESSION_COOKIE, planted, domain="jiujin.test")
    assert (await old.get("/console/cases", follow_redirects=False)).headers["location"].startswith("/console/login")


async def test_signing_out_and_idling_end_the_session(centre: Centre) -> None:
    browser = centre.browser()
    await browser.sign_in("qiantai")
    token = browser.client.cookies.get(SESSION_COOKIE)
    assert (await browser.post("/console/logout", {"csrf": await browser.csrf()})).status_code == 303
    replay = centre.browser()
    replay.client.cookies.set(SESSION_COOKIE, token, domain="jiujin.test")
    assert (await replay.get("/console/cases", follow_redirects=False)).status_code == 302
    await browser.sign_in("qiantai")
    async with centre.api.app.ctx.db.write() as session:
        stale = dt.datetime.now(dt.UTC) - IDLE - dt.timedelta(minutes=1)
        await session.execute(update(StaffSession).values(last_seen_at=stale))
    assert (await browser.get("/console/cases", follow_redirects=False)).status_code == 302


# --- forms from elsewhere --------------------------------------------------------------------------------------------
async def test_a_form_without_the_sessions_token_or_from_another_origin_changes_nothing(centre: Centre) -> None:
    number = await centre.file()
    browser = centre.browser()
    await browser.sign_in("qiantai")
    no_token = await browser.post(f"/console/cases/{number}/transition", {"to": "accepted"})
    assert no_token.status_code == 403 and "已过期" in no_token.text
    token = await browser.csrf()
    elsewhere = await browser.post(
        f"/console/cases/{number}/transition",
        {"csrf": token, "to": "accepted"},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    assert await centre.status(number) == "submitted"


# --- roles ---------------------------------------------------------------------------------------------------------
async def test_a_department_sees_only_its_own_cases(centre: Centre) -> None:
    civil = await centre.file("elderly_preferential_card")  # 民政
    medical = await centre.file("medical_record_book", OTHER_ID)  # 医保
    for number in (civil, medical):
        await (browser := centre.browser()).sign_in("qiantai")
        assert (await browser.act(number, "accepted")).status_code == 303
    yibao = centre.browser()
    await yibao.sign_in("yibao")
    inbox = await yibao.get("/console/cases?all=1")
    assert medical in inbox.text and civil not in inbox.text
    hidden = await yibao.get(f"/console/cases/{civil}")
    missing = await yibao.get("/console/cases/JJ-20000101-9999")
    assert hidden.status_code == missing.status_code == 404 and hidden.text == missing.text
    refused = await yibao.post(f"/console/cases/{civil}/transition", {"csrf": await yibao.csrf(), "to": "processing"})
    assert refused.status_code == 404 and await centre.status(civil) == "accepted"


async def test_a_social_worker_sees_only_the_cases_they_filed(centre: Centre) -> None:
    proxy = {"name": "李社工", "id_number": OTHER_ID, "staff_username": "shegong", "consent": "sms_code"}
    theirs = await centre.file(channel="proxy", proxy=proxy, conditions=["proxy"])
    other = await centre.file()
    worker = centre.browser()
    await worker.sign_in("shegong")
    inbox = await worker.get("/console/cases")
    assert theirs in inbox.text and other not in inbox.text
    assert (await worker.get(f"/console/cases/{other}")).status_code == 404


async def test_each_role_may_make_only_its_own_changes(centre: Centre) -> None:
    number = await centre.file()
    department = centre.browser()
    await department.sign_in("minzheng")
    refused = await department.act(number, "accepted")  # accepting is the front desk's
    assert refused.status_code == 403 and await centre.status(number) == "submitted"
    front = centre.browser()
    await front.sign_in("qiantai")
    assert (await front.act(number, "accepted")).status_code == 303
    assert (await front.act(number, "completed")).status_code == 403  # completing is the department's
    rejected_without_reason = await front.act(number, "withdrawn")
    assert rejected_without_reason.status_code == 422 and "需要写明原因" in rejected_without_reason.text


# --- a case from acceptance to hand-out ----------------------------------------------------------------------------
async def test_a_case_goes_from_acceptance_through_correction_to_hand_out(centre: Centre) -> None:
    number = await centre.file()
    front, department = centre.browser(), centre.browser()
    await front.sign_in("qiantai")
    await department.sign_in("minzheng")
    page = await front.get(f"/console/cases/{number}")
    materials = re.findall(r'name="(material:[a-z_]+)" value="missing"', page.text)
    assert materials, "the checklist offers each material to mark"
    correction = await front.act(number, "needs_correction", **{materials[0]: "missing"})
    assert correction.status_code == 303 and await centre.status(number) == "needs_correction"
    received = {m: "received" for m in materials}
    assert (await front.act(number, "accepted", **received)).status_code == 303
    assert (await department.act(number, "processing")).status_code == 303
    assert (await department.act(number, "completed")).status_code == 303
    handed_out = await front.act(number, "handed_out")
    assert handed_out.status_code == 303 and "已出件" in (await front.get(handed_out.headers["location"])).text
    async with centre.api.app.ctx.db.read() as session:
        trail = (
            await session.execute(
                select(AuditEntry.actor, AuditEntry.detail)
                .where(AuditEntry.entity_id == number, AuditEntry.action == "case.transition")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(actor, detail["to"]) for actor, detail in trail] == [
        ("qiantai", "needs_correction"),
        ("qiantai", "accepted"),
        ("minzheng", "processing"),
        ("minzheng", "completed"),
        ("qiantai", "handed_out"),
    ]
    history = (await front.get(f"/console/cases/{number}")).text
    assert "待补正 → 已受理" in history and "minzheng" in history


# --- the centre's numbers -------------------------------------------------------------------------------------------
async def test_the_statistics_page_and_its_csv_count_the_cases(centre: Centre) -> None:
    for item_id, id_number in (("elderly_preferential_card", ELDER_ID), ("medical_record_book", OTHER_ID)):
        await centre.file(item_id, id_number)
    front = centre.browser()
    await front.sign_in("qiantai")
    page = await front.get("/console/statistics")
    assert page.status_code == 200
    assert re.search(r'id="filed-total">2 件', page.text) and "<svg" in page.text and "老年人优待证" in page.text
    export = await front.get("/console/statistics.csv")
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    text = export.content.decode("utf-8")
    assert text.startswith("\ufeff") and "【受理量·按部门】" in text and "民政,1" in text and "医保,1" in text
    bad = await front.get("/console/statistics?from=2026-13-01&to=x")
    assert bad.status_code == 200 and "日期格式" in bad.text
    worker = centre.browser()
    await worker.sign_in("shegong")
    assert (await worker.get("/console/statistics")).status_code == 403


async def test_an_id_too_long_for_the_database_is_not_found(centre: Centre) -> None:
    front = centre.browser()
    await front.sign_in("qiantai")
    huge = 124668479954167463189035605886366646272
    assert (await front.get(f"/console/visits/{huge}")).status_code in (403, 404)
    admin_page = await front.get(f"/console/admin/accounts/{huge}")
    assert admin_page.status_code in (403, 404)
    await centre.staff("guanli", StaffRole.ADMIN)
    admin = centre.browser()
    await admin.sign_in("guanli")
    for path in (f"/console/visits/{huge}", f"/console/admin/accounts/{huge}", f"/console/filings/{huge}"):
        assert (await admin.get(path)).status_code == 404, path
