"""Staff accounts through their one service, as `bin/jiujin staff add` (``provision``) and the admin pages
(``create``) use it: the same rules, a name free in any letter case, an argon2 hash, the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from backend.db import Database
from backend.models import AuditEntry, StaffRole, StaffUser
from backend.services import passwords, staff_accounts
from backend.services.staff_accounts import AccountRefused, NewAccount


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def _account(db: Database, username: str) -> StaffUser:
    async with db.read() as session:
        return (await session.execute(select(StaffUser).where(StaffUser.username == username))).scalar_one()


async def _actions(db: Database) -> list[tuple[str, str, str]]:
    async with db.read() as session:
        entries = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(e.actor, e.action, e.entity_id) for e in entries if e.entity == "staff"]


async def test_provision_creates_then_updates_the_account_of_that_name(db: Database) -> None:
    created = await staff_accounts.provision(db, NewAccount("yibao1", "department", "医保", "first password"))
    user = await _account(db, "yibao1")
    assert created == "staff.create" and (user.role, user.department, user.active) == (
        StaffRole.DEPARTMENT,
        "医保",
        True,
    )
    assert passwords.matches(user.password_hash, "first password") and "first" not in user.password_hash

    async with db.write() as session:
        (await session.get(StaffUser, user.id)).active = False
    updated = await staff_accounts.provision(db, NewAccount("yibao1", "front_desk", "医保", "second password"))
    user = await _account(db, "yibao1")
    assert updated == "staff.update"
    assert (user.role, user.department, user.active) == (StaffRole.FRONT_DESK, None, True)  # no department outside it
    assert passwords.matches(user.password_hash, "second password")
    assert await _actions(db) == [("cli", "staff.create", "yibao1"), ("cli", "staff.update", "yibao1")]


async def test_provision_refuses_what_the_admin_pages_refuse(db: Database) -> None:
    await staff_accounts.provision(db, NewAccount("Wang.Li", "admin", "", "a long password"))
    with pytest.raises(AccountRefused) as taken:  # the same name in another letter case is another person's
        await staff_accounts.provision(db, NewAccount("wang.li", "admin", "", "a long password"))
    assert taken.value.status == 409 and "wang.li" in taken.value.message
    with pytest.raises(AccountRefused, match="用户名需"):
        await staff_accounts.provision(db, NewAccount("has space", "admin", "", "a long password"))
    with pytest.raises(AccountRefused, match="必须选择所属部门"):
        await staff_accounts.provision(db, NewAccount("nodept", "department", "", "a long password"))
    with pytest.raises(AccountRefused, match="至少需要 8 个字符"):
        await staff_accounts.provision(db, NewAccount("short", "admin", "", "short"))
    assert [user.username for user in await staff_accounts.all_accounts(db)] == ["Wang.Li"]


async def test_an_admin_creates_an_account_only_while_still_an_admin(db: Database) -> None:
    await staff_accounts.provision(db, NewAccount("boss", "admin", "", "a long password"))
    boss = await _account(db, "boss")
    new_id = await staff_accounts.create(
        db, NewAccount("front1", "front_desk", "", "a long password"), admin_id=boss.id
    )
    assert (await staff_accounts.account(db, new_id)).username == "front1"
    assert staff_accounts.problems(NewAccount("", "boss", "", "short")) == [
        "请填写用户名。",
        "请选择角色。",
        "密码至少需要 8 个字符，请重新输入。",
    ]

    async with db.write() as session:  # demoted since the page was drawn
        (await session.get(StaffUser, boss.id)).role = StaffRole.FRONT_DESK
    with pytest.raises(AccountRefused) as refused:
        await staff_accounts.create(db, NewAccount("front2", "front_desk", "", "a long password"), admin_id=boss.id)
    assert refused.value.status == 403
    assert [user.username for user in await staff_accounts.all_accounts(db)] == ["boss", "front1"]
