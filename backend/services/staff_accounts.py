"""Staff accounts: created and changed by admins in the console, provisioned by `bin/jiujin staff add`.

The rules, the same for both ways in:

- A role, a department for the department role (none for the other roles: only the department role works for one
  department), a name of `USERNAME`'s form that no other account has in any letter case, and an initial password
  of `MIN_PASSWORD_LENGTH` to `MAX_PASSWORD_LENGTH` characters, stored as an argon2 hash (`backend.services.passwords`).
- Deactivating an account, or resetting its password, deletes its sessions in the same transaction: a browser signed
  in with it is sent to the login page on its next request. A password reset also lifts a lockout, or the new
  password would not open the account until the lock ran out.
- An admin cannot deactivate or demote themselves, so the centre always keeps an admin. The acting admin's row is
  locked and checked again inside each transaction (`AccountChange`), so two admins demoting each other at once
  cannot both succeed.
- Every change is in the audit log with the admin (or ``cli``) as actor; passwords and hashes never are.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.schema import Department
from backend.db import Database
from backend.models import StaffRole, StaffSession, StaffUser, as_utc, utcnow
from backend.services import audit
from backend.services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, hash_password

USERNAME = re.compile(r"[\w.@-]{2,32}")
"""Letters (Chinese too), digits and ``_.@-``; at most 32 characters, which the audit log keeps whole."""
FORBIDDEN = "您的账号没有这个页面的权限。"
"""What staff read when their role may not do something: a page of another role, or an admin's change made by
someone who is no longer an admin."""
ADMIN = StaffRole.ADMIN


class AccountRefused(Exception):
    """A change that may not be made, or input that does not fit; ``message`` is what staff read, ``status`` the HTTP
    status a page answers with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class AccountNotFound(Exception):
    """No account has the id a change names."""


@dataclass(frozen=True)
class NewAccount:
    """An account to create, as typed: checked by `problems` (and again by `create` and `provision`)."""

    username: str
    role: str
    department: str
    password: str


# --- the rules -------------------------------------------------------------------------------------------------------
def check_username(raw: str) -> str:
    """``raw`` when it is a usable name; else `AccountRefused`."""
    if not raw:
        raise AccountRefused("请填写用户名。")
    if not USERNAME.fullmatch(raw):
        raise AccountRefused("用户名需 2–32 个字符，只能使用字母、数字、汉字和 _ . - @，不能有空格。")
    return raw


def check_role(role: str, department: str) -> tuple[StaffRole, str | None]:
    """The role and the department it works for (None but for the department role); else `AccountRefused`."""
    if role not in StaffRole.__members__.values():
        raise AccountRefused("请选择角色。")
    if StaffRole(role) is not StaffRole.DEPARTMENT:
        return StaffRole(role), None
    if not department:
        raise AccountRefused("后台办理（部门）账号必须选择所属部门。")
    if department not in Department.__members__.values():
        raise AccountRefused("请从列表中选择所属部门。")
    return StaffRole.DEPARTMENT, department


def check_password(raw: str) -> str:
    """``raw`` when its length is allowed; else `AccountRefused`."""
    if len(raw) < MIN_PASSWORD_LENGTH:
        raise AccountRefused(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符，请重新输入。")
    if len(raw) > MAX_PASSWORD_LENGTH:
        raise AccountRefused(f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符，请重新输入。")
    return raw


def problems(account: NewAccount) -> list[str]:
    """Every problem of a new account at once (a form shows them all, not one per attempt)."""
    found = []
    for check, values in (
        (check_username, (account.username,)),
        (check_role, (account.role, account.department)),
        (check_password, (account.password,)),
    ):
        try:
            check(*values)
        except AccountRefused as refused:
            found.append(refused.message)
    return found


def _checked(account: NewAccount) -> tuple[StaffRole, str | None, str]:
    """(role, department, password hash); the first problem as `AccountRefused`. Hashed before any transaction:
    argon2 takes a while on purpose."""
    check_username(account.username)
    role, department = check_role(account.role, account.department)
    return role, department, hash_password(check_password(account.password))


def _taken(username: str) -> AccountRefused:
    return AccountRefused(f"用户名“{username}”已被使用，请换一个。", status=409)


async def _name_is_free(session: AsyncSession, username: str) -> bool:
    same_name = select(StaffUser.id).where(func.lower(StaffUser.username) == username.lower())
    return (await session.execute(same_name)).first() is None


# --- creating --------------------------------------------------------------------------------------------------------
async def create(db: Database, account: NewAccount, *, admin_id: int) -> int:
    """Create the account for the acting admin ``admin_id``; its id. `AccountRefused`: a problem of the account,
    a name taken (409), the admin no longer an admin (403)."""
    role, department, password_hash = _checked(account)
    try:
        async with db.write() as session:
            admin = _still_admin(await _locked(session, admin_id))
            if not await _name_is_free(session, account.username):
                raise _taken(account.username)
            user = StaffUser(username=account.username, role=role, department=department, password_hash=password_hash)
            session.add(user)
            _record(session, admin, "staff.create", account.username, role=role.value, department=department)
            await session.flush()
            return user.id
    except IntegrityError:  # the same name created at the same moment by another request
        raise _taken(account.username) from None


async def provision(db: Database, account: NewAccount, *, actor: str = "cli") -> str:
    """Create the account, or give the one of exactly this name the role, department and password (active again):
    ``staff.create`` or ``staff.update``. `AccountRefused` as `create`, without an acting admin."""
    role, department, password_hash = _checked(account)
    try:
        async with db.write() as session:
            found = await session.execute(select(StaffUser).where(StaffUser.username == account.username))
            user = found.scalar_one_or_none()
            if user is None:
                if not await _name_is_free(session, account.username):
                    raise _taken(account.username)
                session.add(
                    StaffUser(username=account.username, role=role, department=department, password_hash=password_hash)
                )
                action = "staff.create"
            else:
                user.role, user.department, user.password_hash, user.active = role, department, password_hash, True
                action = "staff.update"
            audit.record(session, actor, action, "staff", account.username[:32], role=role.value, department=department)
    except IntegrityError:
        raise _taken(account.username) from None
    return action


# --- changing --------------------------------------------------------------------------------------------------------
AccountChange = Callable[[AsyncSession, StaffUser, StaffUser], Awaitable[str]]
"""One change: (session, the account, the acting admin) → the key of what was done; raises `AccountRefused`."""


async def _change(db: Database, account_id: int, admin_id: int, change: AccountChange) -> str:
    """Run ``change`` in one transaction with both rows locked (in id order, so two admins never deadlock)."""
    async with db.write() as session:
        found = await session.execute(
            select(StaffUser).where(StaffUser.id.in_({admin_id, account_id})).order_by(StaffUser.id).with_for_update()
        )
        rows = {user.id: user for user in found.scalars()}
        admin = _still_admin(rows.get(admin_id))
        if account_id not in rows:
            raise AccountNotFound(account_id)
        return await change(session, rows[account_id], admin)


async def change_role(db: Database, account_id: int, role: str, department: str, *, admin_id: int) -> str:
    """Give the account a role (and department): ``role`` or ``unchanged``. Nobody demotes themselves."""

    async def change(session: AsyncSession, user: StaffUser, admin: StaffUser) -> str:
        new_role, new_department = check_role(role, department)
        if user.id == admin.id and new_role is not ADMIN:
            raise AccountRefused("不能取消自己的管理员角色：中心必须保留管理员。如确需调整，请另一位管理员操作。", 409)
        if (user.role, user.department) == (new_role, new_department):
            return "unchanged"
        _record(
            session,
            admin,
            "staff.role",
            user.username,
            role=new_role.value,
            department=new_department,
            previous_role=user.role.value,
            previous_department=user.department,
        )
        user.role, user.department = new_role, new_department
        return "role"

    return await _change(db, account_id, admin_id, change)


async def deactivate(db: Database, account_id: int, *, admin_id: int) -> str:
    """Deactivate the account and end its sessions: ``deactivated``. Nobody deactivates themselves."""

    async def change(session: AsyncSession, user: StaffUser, admin: StaffUser) -> str:
        if user.id == admin.id:
            raise AccountRefused("不能停用自己的账号：中心必须保留管理员。如确需停用，请另一位管理员操作。", 409)
        if not user.active:
            return "deactivated"
        user.active = False
        ended = await _end_sessions(session, user)
        _record(session, admin, "staff.deactivate", user.username, sessions_ended=ended)
        return "deactivated"

    return await _change(db, account_id, admin_id, change)


async def reactivate(db: Database, account_id: int, *, admin_id: int) -> str:
    """Let the account sign in again: ``reactivated``."""

    async def change(session: AsyncSession, user: StaffUser, admin: StaffUser) -> str:
        if not user.active:
            user.active = True
            _record(session, admin, "staff.reactivate", user.username)
        return "reactivated"

    return await _change(db, account_id, admin_id, change)


async def reset_password(
    db: Database, account_id: int, password: str, *, admin_id: int, keep_session: int | None = None
) -> str:
    """Give the account a new password, lift its lockout and end its sessions but ``keep_session`` (the admin's own,
    when they reset their own password): ``password``."""
    # Hashed outside the transaction (argon2 takes a while on purpose); a refused password is never hashed.
    password_hash = hash_password(password) if MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH else ""

    async def change(session: AsyncSession, user: StaffUser, admin: StaffUser) -> str:
        check_password(password)
        was_locked = locked_until(user) is not None or user.failed_logins > 0
        user.password_hash, user.failed_logins, user.locked_until = password_hash, 0, None
        ended = await _end_sessions(session, user, keep=keep_session if user.id == admin.id else None)
        _record(session, admin, "staff.password_reset", user.username, sessions_ended=ended, unlocked=was_locked)
        return "password"

    return await _change(db, account_id, admin_id, change)


async def unlock(db: Database, account_id: int, *, admin_id: int) -> str:
    """Lift the account's lockout and forget its failed sign-ins: ``unlocked``."""

    async def change(session: AsyncSession, user: StaffUser, admin: StaffUser) -> str:
        until = as_utc(user.locked_until)
        if until is not None or user.failed_logins:
            _record(
                session,
                admin,
                "staff.unlock",
                user.username,
                locked_until=until.isoformat() if until else None,
                failed_logins=user.failed_logins,
            )
        user.locked_until, user.failed_logins = None, 0
        return "unlocked"

    return await _change(db, account_id, admin_id, change)


async def _locked(session: AsyncSession, user_id: int) -> StaffUser | None:
    found = await session.execute(select(StaffUser).where(StaffUser.id == user_id).with_for_update())
    return found.scalar_one_or_none()


def _still_admin(user: StaffUser | None) -> StaffUser:
    """The acting admin as the transaction sees it: demoted or deactivated since the request began, they may not."""
    if user is None or not user.active or user.role is not ADMIN:
        raise AccountRefused(FORBIDDEN, status=403)
    return user


def _record(session: AsyncSession, admin: StaffUser, action: str, username: str, **detail: object) -> None:
    """An audit entry about a staff account (never a password or a hash: callers pass neither)."""
    audit.record(session, admin.username, action, "staff", username[:32], **detail)


async def _end_sessions(session: AsyncSession, user: StaffUser, *, keep: int | None = None) -> int:
    statement = delete(StaffSession).where(StaffSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(StaffSession.id != keep)
    return int((await session.execute(statement)).rowcount or 0)


# --- reading ---------------------------------------------------------------------------------------------------------
def locked_until(user: StaffUser) -> dt.datetime | None:
    """When the account's lockout ends, if it is locked now."""
    until = as_utc(user.locked_until)
    return until if until is not None and until > utcnow() else None


async def all_accounts(db: Database) -> list[StaffUser]:
    """Every account, by name."""
    async with db.read() as session:
        return list((await session.execute(select(StaffUser).order_by(StaffUser.username))).scalars())


async def account(db: Database, account_id: int) -> StaffUser | None:
    """One account, or None."""
    async with db.read() as session:
        return await session.get(StaffUser, account_id)


async def social_workers(db: Database) -> list[str]:
    """The names of the active social workers, sorted."""
    async with db.read() as session:
        statement = select(StaffUser.username).where(StaffUser.role == StaffRole.SOCIAL_WORKER, StaffUser.active)
        return list((await session.execute(statement.order_by(StaffUser.username))).scalars())
