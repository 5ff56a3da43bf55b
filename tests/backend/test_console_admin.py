"""The console's admin pages over HTTP (in-process, on SQLite and PostgreSQL): who may open them, staff accounts
(create, refusals, role, deactivate, password reset, unlock, the admin's own account), the windows' pause and resume
through the queue's own path, and the audit trail of it all."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from backend.models import AuditEntry, HallEvent, StaffRole, StaffSession, StaffUser
from backend.services.staff_sessions import MAX_FAILURES
from tests.backend.test_console import PASSWORD, Browser, Centre, admin, admin_pages_centre

NEW_PASSWORD = "xin-mima-2026"
OTHER_PASSWORD = "another pass 7"


@pytest.fixture
async def centre(database_url: str, catalog) -> AsyncIterator[Centre]:
    async with admin_pages_centre(database_url, catalog, window_departments={5: ("医保", "社保")}) as centre:
        yield centre


async def user_id(centre: Centre, username: str) -> int:
    async with centre.api.app.ctx.db.read() as session:
        return (await session.execute(select(StaffUser.id).where(StaffUser.username == username))).scalar_one()


async def account(centre: Centre, username: str) -> StaffUser:
    async with centre.api.app.ctx.db.read() as session:
        return (await session.execute(select(StaffUser).where(StaffUser.username == username))).scalar_one()


async def sessions_of(centre: Centre, username: str) -> int:
    async with centre.api.app.ctx.db.read() as session:
        statement = select(func.count(StaffSession.id)).join(StaffUser, StaffUser.id == StaffSession.user_id)
        return (await session.execute(statement.where(StaffUser.username == username))).scalar_one()


async def audited(centre: Centre, action: str) -> list[AuditEntry]:
    """The audit entries of ``action``, checked to hold no password and no hash."""
    async with centre.api.app.ctx.db.read() as session:
        entries = list((await session.execute(select(AuditEntry).where(AuditEntry.action == action))).scalars())
    for entry in entries:
        text = json.dumps(entry.detail, ensure_ascii=False)
        assert not any(secret in text for secret in (PASSWORD, NEW_PASSWORD, OTHER_PASSWORD, "$argon2"))
    return entries


async def post(browser: Browser, path: str, **fields: str) -> httpx.Response:
    return await browser.post(path, {"csrf": await browser.csrf("/console/admin"), **fields})


def selected(page: str, name: str) -> str | None:
    """The value of the selected option of the ``name`` select of ``page``."""
    select_html = re.search(rf'<select id="{name}" name="{name}">(.*?)</select>', page, re.S)
    chosen = re.search(r'<option value="([^"]*)" selected>', select_html.group(1)) if select_html else None
    return chosen.group(1) if chosen else None


# --- who may open the pages ------------------------------------------------------------------------------------------
async def test_only_admins_reach_the_admin_pages(centre: Centre) -> None:
    signed_out = centre.browser()
    for path in (
        "/console/admin",
        "/console/admin/windows",
        f"/console/admin/accounts/{await user_id(centre, 'qiantai')}",
    ):
        away = await signed_out.get(path, follow_redirects=False)
        assert away.status_code == 302 and away.headers["location"] == f"/console/login?next={path}"
    assert (await signed_out.post("/console/admin/windows/3/pause", {})).status_code == 403
    for username in ("qiantai", "minzheng", "shegong"):
        browser = centre.browser()
        await browser.sign_in(username)
        for path in ("/console/admin", "/console/admin/windows"):
            refused = await browser.get(path)
            assert refused.status_code == 403 and "没有这个页面的权限" in refused.text
        form = {"csrf": await browser.csrf(), "username": f"x{username}", "role": "admin", "password": NEW_PASSWORD}
        assert (await browser.post("/console/admin/accounts", form)).status_code == 403
        assert "/console/admin" not in (await browser.get("/console/cases")).text  # no link to the admin pages
    async with centre.api.app.ctx.db.read() as session:
        assert (await session.execute(select(func.count(StaffUser.id)))).scalar_one() == 4
    guanli = await admin(centre)
    page = await guanli.get("/console/admin")
    assert page.status_code == 200 and all(name in page.text for name in ("qiantai", "minzheng", "shegong", "民政"))
    forged = await guanli.post(
        "/console/admin/accounts", {"username": "xin", "role": "admin", "password": NEW_PASSWORD}
    )
    assert forged.status_code == 403  # no CSRF token


# --- accounts --------------------------------------------------------------------------------------------------------
async def test_an_admin_creates_an_account_that_signs_in(centre: Centre) -> None:
    guanli = await admin(centre)
    created = await post(
        guanli,
        "/console/admin/accounts",
        username="canlian1",
        role="department",
        department="残联",
        password=NEW_PASSWORD,
    )
    assert created.status_code == 303 and created.headers["location"].endswith("?done=created")
    shown = await guanli.get(created.headers["location"])
    assert "账号已创建" in shown.text and "残联" in shown.text
    user = await account(centre, "canlian1")
    assert (user.role, user.department, user.active) == (StaffRole.DEPARTMENT, "残联", True)
    assert user.password_hash.startswith("$argon2id$") and not PasswordHasher().check_needs_rehash(user.password_hash)
    newcomer = centre.browser()
    assert (await newcomer.sign_in("canlian1", NEW_PASSWORD)).status_code == 303
    assert "canlian1 · 残联" in (await newcomer.get("/console/cases")).text
    await post(
        guanli,
        "/console/admin/accounts",
        username="qiantai2",
        role="front_desk",
        department="医保",
        password=NEW_PASSWORD,
    )
    assert (await account(centre, "qiantai2")).department is None  # only the department role has a department
    [entry, _] = await audited(centre, "staff.create")
    assert (entry.actor, entry.entity_id, entry.detail) == (
        "guanli",
        "canlian1",
        {"role": "department", "department": "残联"},
    )


async def test_invalid_accounts_are_refused_in_chinese_and_the_form_keeps_what_was_typed(centre: Centre) -> None:
    guanli = await admin(centre)
    for username in ("qiantai", "QianTai"):
        duplicate = await post(
            guanli, "/console/admin/accounts", username=username, role="social_worker", password=NEW_PASSWORD
        )
        assert duplicate.status_code == 409 and f"用户名“{username}”已被使用" in duplicate.text
        assert f'value="{username}"' in duplicate.text and selected(duplicate.text, "role") == "social_worker"
    short = await post(
        guanli, "/console/admin/accounts", username="xinren", role="department", department="公安", password="short7!"
    )
    assert short.status_code == 422 and "密码至少需要 8 个字符" in short.text
    assert 'value="xinren"' in short.text and selected(short.text, "department") == "公安"
    assert "short7!" not in short.text  # a password is never written back into a page
    no_department = await post(
        guanli, "/console/admin/accounts", username="xinren", role="department", password=NEW_PASSWORD
    )
    assert no_department.status_code == 422 and "必须选择所属部门" in no_department.text
    assert selected(no_department.text, "role") == "department"
    spaced = await post(guanli, "/console/admin/accounts", username="xin ren", role="admin", password=NEW_PASSWORD)
    assert spaced.status_code == 422 and "不能有空格" in spaced.text
    everything = await post(guanli, "/console/admin/accounts", username="", role="department", password="1234")
    assert everything.status_code == 422 and everything.text.count('class="error"') == 3  # all problems at once
    async with centre.api.app.ctx.db.read() as session:
        assert (await session.execute(select(func.count(StaffUser.id)))).scalar_one() == 4
    assert await audited(centre, "staff.create") == []


async def test_changing_a_role_takes_effect_at_the_next_request(centre: Centre) -> None:
    guanli, worker = await admin(centre), centre.browser()
    await worker.sign_in("qiantai")
    path = f"/console/admin/accounts/{await user_id(centre, 'qiantai')}/role"
    missing = await post(guanli, path, role="department")
    assert missing.status_code == 422 and "必须选择所属部门" in missing.text
    assert selected(missing.text, "role") == "department"  # the choice is kept, not reset to the saved role
    assert (await post(guanli, path, role="department", department="医保")).status_code == 303
    assert "qiantai · 医保" in (await worker.get("/console/cases")).text
    [entry] = await audited(centre, "staff.role")
    assert (
        entry.actor == "guanli"
        and entry.detail["previous_role"] == "front_desk"
        and entry.detail["role"] == "department"
    )


async def test_deactivating_an_account_ends_its_open_session_at_once(centre: Centre) -> None:
    guanli, front = await admin(centre), centre.browser()
    await front.sign_in("qiantai")
    assert (await front.get("/console/cases")).status_code == 200
    qiantai = await user_id(centre, "qiantai")
    done = await post(guanli, f"/console/admin/accounts/{qiantai}/deactivate")
    assert done.status_code == 303 and "已停用" in (await guanli.get(done.headers["location"])).text
    assert await sessions_of(centre, "qiantai") == 0
    sent_away = await front.get("/console/cases", follow_redirects=False)
    assert sent_away.status_code == 302 and sent_away.headers["location"].startswith("/console/login")
    assert (await front.sign_in("qiantai")).status_code == 401
    assert (await post(guanli, f"/console/admin/accounts/{qiantai}/reactivate")).status_code == 303
    assert (await front.sign_in("qiantai")).status_code == 303
    [off] = await audited(centre, "staff.deactivate")
    [on] = await audited(centre, "staff.reactivate")
    assert (off.actor, off.entity_id, off.detail["sessions_ended"]) == ("guanli", "qiantai", 1) and on.actor == "guanli"


async def test_resetting_a_password_ends_the_sessions_and_the_new_password_works(centre: Centre) -> None:
    guanli, department = await admin(centre), centre.browser()
    await department.sign_in("minzheng")
    path = f"/console/admin/accounts/{await user_id(centre, 'minzheng')}/password"
    short = await post(guanli, path, password="1234567")
    assert short.status_code == 422 and "密码至少需要 8 个字符" in short.text
    assert (await department.get("/console/cases")).status_code == 200  # a refused reset changes nothing
    assert (await post(guanli, path, password=OTHER_PASSWORD)).status_code == 303
    assert (await department.get("/console/cases", follow_redirects=False)).status_code == 302
    assert (await department.sign_in("minzheng", PASSWORD)).status_code == 401
    assert (await department.sign_in("minzheng", OTHER_PASSWORD)).status_code == 303
    [entry] = await audited(centre, "staff.password_reset")
    assert (entry.actor, entry.entity_id, entry.detail["sessions_ended"]) == ("guanli", "minzheng", 1)


async def test_unlocking_lets_a_locked_account_sign_in(centre: Centre) -> None:
    worker = centre.browser()
    for _ in range(MAX_FAILURES):
        await worker.sign_in("shegong", "wrong-password")
    assert (await worker.sign_in("shegong")).status_code == 401  # locked: even the right password is refused
    guanli = await admin(centre)
    listing = await guanli.get("/console/admin")
    assert re.search(r"shegong</a>.*?badge overdue\">\d{4}-\d\d-\d\d \d\d:\d\d", listing.text, re.S)
    assert (await post(guanli, f"/console/admin/accounts/{await user_id(centre, 'shegong')}/unlock")).status_code == 303
    user = await account(centre, "shegong")
    assert user.locked_until is None and user.failed_logins == 0
    assert (await worker.sign_in("shegong")).status_code == 303
    [entry] = await audited(centre, "staff.unlock")
    assert entry.actor == "guanli" and entry.entity_id == "shegong" and entry.detail["locked_until"]


async def test_an_admin_cannot_deactivate_or_demote_themselves(centre: Centre) -> None:
    guanli = await admin(centre)
    me = await user_id(centre, "guanli")
    page = await guanli.get(f"/console/admin/accounts/{me}")
    assert "不能停用自己的账号" in page.text and f"/accounts/{me}/deactivate" not in page.text
    deactivated = await post(guanli, f"/console/admin/accounts/{me}/deactivate")
    assert deactivated.status_code == 409 and "不能停用自己的账号" in deactivated.text
    demoted = await post(guanli, f"/console/admin/accounts/{me}/role", role="front_desk")
    assert demoted.status_code == 409 and "不能取消自己的管理员角色" in demoted.text
    user = await account(centre, "guanli")
    assert user.active and user.role is StaffRole.ADMIN
    assert (await guanli.get("/console/admin")).status_code == 200  # still signed in, still an admin
    elsewhere = centre.browser()
    await elsewhere.sign_in("guanli")
    assert (await post(guanli, f"/console/admin/accounts/{me}/password", password=NEW_PASSWORD)).status_code == 303
    assert (await guanli.get("/console/admin")).status_code == 200  # the session that reset it stays
    assert (await elsewhere.get("/console/admin", follow_redirects=False)).status_code == 302  # the others end
    assert (await elsewhere.sign_in("guanli", NEW_PASSWORD)).status_code == 303
    await centre.staff("guanli2", StaffRole.ADMIN)  # another admin may be demoted
    other = await user_id(centre, "guanli2")
    assert (await post(guanli, f"/console/admin/accounts/{other}/role", role="front_desk")).status_code == 303
    assert (await account(centre, "guanli2")).role is StaffRole.FRONT_DESK
    assert (await guanli.get("/console/admin/accounts/99999")).status_code == 404


# --- windows ---------------------------------------------------------------------------------------------------------
async def test_pausing_window_3_from_the_console_stops_its_calls_until_resumed(centre: Centre) -> None:
    api = centre.api
    assert (await api.post("/api/v1/queue/tickets", json={"category": "A", "channel": "counter"})).status == 201
    guanli = await admin(centre)
    page = await guanli.get("/console/admin/windows")
    assert page.status_code == 200 and page.text.count("号窗口</td>") == api.app.ctx.settings.window_count
    assert "医保、社保" in page.text and "WINDOW_DEPARTMENTS" in page.text
    paused = await guanli.post("/console/admin/windows/3/pause", {"csrf": await guanli.csrf("/console/admin/windows")})
    assert paused.status_code == 303
    assert "3号窗口已暂停叫号" in (await guanli.get(paused.headers["location"])).text
    refused = await api.post("/api/v1/queue/windows/3/call-next")
    assert refused.status == 409 and refused.json["error"]["code"] == "window_paused"
    assert 3 in (await api.get("/api/v1/queue/board")).json["paused"]
    resumed = await guanli.post(
        "/console/admin/windows/3/resume", {"csrf": await guanli.csrf("/console/admin/windows")}
    )
    assert resumed.status_code == 303
    called = await api.post("/api/v1/queue/windows/3/call-next")
    assert called.status == 200 and called.json["number"] == "A001"
    async with api.app.ctx.db.read() as session:
        kinds = (
            await session.execute(select(HallEvent.kind).where(HallEvent.window == 3).order_by(HallEvent.id))
        ).all()
    assert [kind for (kind,) in kinds] == ["paused", "resumed", "called"]
    [pause] = await audited(centre, "queue.pause")
    [resume] = await audited(centre, "queue.resume")
    assert (pause.actor, pause.entity_id) == (resume.actor, resume.entity_id) == ("guanli", "3")
    unknown = await guanli.post(
        "/console/admin/windows/99/pause", {"csrf": await guanli.csrf("/console/admin/windows")}
    )
    assert unknown.status_code == 404
