"""The console's admin pages, for admins only: staff accounts (``/console/admin``, ``/console/admin/accounts/<id>``)
and the hall's windows (``/console/admin/windows``).

Why they work this way:

- Accounts follow the rules of `bin/jiujin staff add`: a role, a department for the department role (none for the
  other roles), an initial password of at least `MIN_PASSWORD_LENGTH` characters, hashed by sessions.py's argon2
  hasher (so the next login does not rehash it).
- Deactivating an account, or resetting its password, deletes its sessions in the same transaction: a browser
  signed in with it is sent to the login page on its next request. A password reset also lifts a lockout, or the
  new password would not open the account until the lock ran out.
- An admin cannot deactivate or demote themselves, so the centre always keeps an admin. The acting admin's row is
  locked and checked again inside each transaction, so two admins demoting each other at once cannot both succeed.
- Every change is in the audit log with the admin as actor; passwords and hashes never are.
- A window is paused and resumed through `backend.services.queue.set_paused`, the queue API's own path, so the hall
  event (board, LED board, keypads) and the audit entry are written exactly as for a keypad or the API.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.catalog.schema import Department
from backend.console import roles
from backend.console.guard import FORBIDDEN, staff_page
from backend.console.render import render
from backend.console.sessions import MIN_PASSWORD_LENGTH, hash_password
from backend.models import ServiceWindow, StaffRole, StaffSession, StaffUser, as_utc, utcnow
from backend.services import audit
from backend.services import queue as queue_service

admin_pages = Blueprint("console_admin", url_prefix="/console/admin")
ADMIN = StaffRole.ADMIN
T = TypeVar("T")

MAX_PASSWORD_LENGTH = 200
"""The login form reads at most this many characters, so a longer password could never sign in."""
USERNAME = re.compile(r"[\w.@-]{2,32}")
"""Letters (Chinese too), digits and ``_.@-``; at most 32 characters, which the audit log keeps whole."""

DONE = {
    "created": "账号已创建，请把初始密码当面交给本人。",
    "role": "角色和部门已保存。",
    "unchanged": "角色和部门没有变化。",
    "deactivated": "账号已停用，它的登录已全部结束。",
    "reactivated": "账号已恢复启用。",
    "password": "密码已重置，该账号原有的登录已全部结束。",
    "unlocked": "账号已解锁。",
}
WINDOW_DONE = {"paused": "{window}号窗口已暂停叫号。", "resumed": "{window}号窗口已恢复叫号。"}


class Refused(Exception):
    """A change the admin may not make, or input that does not fit; ``message`` is what the page says."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message, self.status = message, status


@dataclass
class Draft:
    """What a refused form sent (never its password), to fill the form in again."""

    username: str = ""
    role: str = ""
    department: str = ""


@dataclass(frozen=True)
class Account:
    """A staff account as the pages show it (times in the centre's time zone, "" when there is none)."""

    user: StaffUser
    locked_until: str
    last_login: str
    created: str


@dataclass(frozen=True)
class Window:
    """A window of the hall: the departments it serves first, paused or open, the number it serves now."""

    number: int
    departments: tuple[str, ...]
    paused: bool
    changed_at: str
    serving: str | None


# --- checking what a form sent ---------------------------------------------------------------------------------------
def _username(raw: str) -> str:
    if not raw:
        raise Refused("请填写用户名。")
    if not USERNAME.fullmatch(raw):
        raise Refused("用户名需 2–32 个字符，只能使用字母、数字、汉字和 _ . - @，不能有空格。")
    return raw


def _role_and_department(role: str, department: str) -> tuple[StaffRole, str | None]:
    if role not in StaffRole.__members__.values():
        raise Refused("请选择角色。")
    if StaffRole(role) is not StaffRole.DEPARTMENT:
        return StaffRole(role), None  # only the department role works for one department (roles.visible)
    if not department:
        raise Refused("后台办理（部门）账号必须选择所属部门。")
    if department not in Department.__members__.values():
        raise Refused("请从列表中选择所属部门。")
    return StaffRole.DEPARTMENT, department


def _password(raw: str) -> str:
    if len(raw) < MIN_PASSWORD_LENGTH:
        raise Refused(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符，请重新输入。")
    if len(raw) > MAX_PASSWORD_LENGTH:
        raise Refused(f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符，请重新输入。")
    return raw


def _checked(problems: list[str], check: Callable[..., T], *values: str) -> T | None:
    """``check(*values)``, or None with its message added to ``problems``."""
    try:
        return check(*values)
    except Refused as refused:
        problems.append(refused.message)
        return None


def _draft(request: Request) -> Draft:
    form = request.form
    return Draft(
        username=(form.get("username") or "").strip()[:50],
        role=(form.get("role") or "")[:24],
        department=(form.get("department") or "")[:8],
    )


# --- accounts ------------------------------------------------------------------------------------------------------
@admin_pages.get("/")
@staff_page(ADMIN)
async def accounts(request: Request) -> HTTPResponse:
    return await _accounts_view(request, Draft(role=StaffRole.FRONT_DESK.value))


@admin_pages.post("/accounts")
@staff_page(ADMIN)
async def create_account(request: Request) -> HTTPResponse:
    draft, me = _draft(request), request.ctx.staff.user
    problems: list[str] = []  # every problem of the form at once, not one per attempt
    username = _checked(problems, _username, draft.username)
    chosen = _checked(problems, _role_and_department, draft.role, draft.department)
    password = _checked(problems, _password, request.form.get("password") or "")
    if problems or username is None or chosen is None or password is None:
        return await _accounts_view(request, draft, errors=problems, status=422)
    (role, department), password_hash = chosen, hash_password(password)
    taken = f"用户名“{username}”已被使用，请换一个。"
    try:
        async with request.app.ctx.db.write() as session:
            await _acting_admin(session, me.id)
            same_name = select(StaffUser.id).where(func.lower(StaffUser.username) == username.lower())
            if (await session.execute(same_name)).first() is not None:
                raise Refused(taken, status=409)
            user = StaffUser(username=username, role=role, department=department, password_hash=password_hash)
            session.add(user)
            _record(session, me, "staff.create", username, role=role.value, department=department)
            await session.flush()
            user_id = user.id
    except IntegrityError:  # the same name created at the same moment by another request
        return await _accounts_view(request, draft, errors=[taken], status=409)
    except Refused as refused:
        return await _accounts_view(request, draft, errors=[refused.message], status=refused.status)
    return redirect(f"/console/admin/accounts/{user_id}?done=created", status=303)


@admin_pages.get("/accounts/<user_id:int>")
@staff_page(ADMIN)
async def account(request: Request, user_id: int) -> HTTPResponse:
    return await _account_view(request, user_id)


@admin_pages.post("/accounts/<user_id:int>/role")
@staff_page(ADMIN)
async def change_role(request: Request, user_id: int) -> HTTPResponse:
    async def change(session: AsyncSession, user: StaffUser, me: StaffUser) -> str:
        role, department = _role_and_department(request.form.get("role") or "", request.form.get("department") or "")
        if user.id == me.id and role is not ADMIN:
            raise Refused("不能取消自己的管理员角色：中心必须保留管理员。如确需调整，请另一位管理员操作。", 409)
        if (user.role, user.department) == (role, department):
            return "unchanged"
        _record(
            session,
            me,
            "staff.role",
            user.username,
            role=role.value,
            department=department,
            previous_role=user.role.value,
            previous_department=user.department,
        )
        user.role, user.department = role, department
        return "role"

    return await _change(request, user_id, change)


@admin_pages.post("/accounts/<user_id:int>/deactivate")
@staff_page(ADMIN)
async def deactivate(request: Request, user_id: int) -> HTTPResponse:
    async def change(session: AsyncSession, user: StaffUser, me: StaffUser) -> str:
        if user.id == me.id:
            raise Refused("不能停用自己的账号：中心必须保留管理员。如确需停用，请另一位管理员操作。", 409)
        if not user.active:
            return "deactivated"
        user.active = False
        ended = await _end_sessions(session, user)
        _record(session, me, "staff.deactivate", user.username, sessions_ended=ended)
        return "deactivated"

    return await _change(request, user_id, change)


@admin_pages.post("/accounts/<user_id:int>/reactivate")
@staff_page(ADMIN)
async def reactivate(request: Request, user_id: int) -> HTTPResponse:
    async def change(session: AsyncSession, user: StaffUser, me: StaffUser) -> str:
        if not user.active:
            user.active = True
            _record(session, me, "staff.reactivate", user.username)
        return "reactivated"

    return await _change(request, user_id, change)


@admin_pages.post("/accounts/<user_id:int>/password")
@staff_page(ADMIN)
async def reset_password(request: Request, user_id: int) -> HTTPResponse:
    raw = request.form.get("password") or ""
    # Hashed outside the transaction (argon2 takes a while on purpose); a refused password is never hashed.
    password_hash = hash_password(raw) if MIN_PASSWORD_LENGTH <= len(raw) <= MAX_PASSWORD_LENGTH else ""

    async def change(session: AsyncSession, user: StaffUser, me: StaffUser) -> str:
        _password(raw)
        was_locked = _locked_until(user) is not None or user.failed_logins > 0
        user.password_hash, user.failed_logins, user.locked_until = password_hash, 0, None
        # An admin resetting their own password stays signed in here; every other session of the account ends.
        keep = request.ctx.staff.session_id if user.id == me.id else None
        ended = await _end_sessions(session, user, keep=keep)
        _record(session, me, "staff.password_reset", user.username, sessions_ended=ended, unlocked=was_locked)
        return "password"

    return await _change(request, user_id, change)


@admin_pages.post("/accounts/<user_id:int>/unlock")
@staff_page(ADMIN)
async def unlock(request: Request, user_id: int) -> HTTPResponse:
    async def change(session: AsyncSession, user: StaffUser, me: StaffUser) -> str:
        locked_until = as_utc(user.locked_until)
        if locked_until is not None or user.failed_logins:
            _record(
                session,
                me,
                "staff.unlock",
                user.username,
                locked_until=locked_until.isoformat() if locked_until else None,
                failed_logins=user.failed_logins,
            )
        user.locked_until, user.failed_logins = None, 0
        return "unlocked"

    return await _change(request, user_id, change)


Change = Callable[[AsyncSession, StaffUser, StaffUser], Awaitable[str]]


async def _change(request: Request, user_id: int, change: Change) -> HTTPResponse:
    """Run ``change(session, account, acting admin)`` in one transaction, both rows locked; it returns the key of
    the ``DONE`` message or raises `Refused` (nothing is changed then)."""
    me = request.ctx.staff.user
    try:
        async with request.app.ctx.db.write() as session:
            found = await session.execute(
                select(StaffUser).where(StaffUser.id.in_({me.id, user_id})).order_by(StaffUser.id).with_for_update()
            )
            rows = {user.id: user for user in found.scalars()}
            acting = _still_admin(rows.get(me.id))
            if user_id not in rows:
                return _not_found(request)
            done = await change(session, rows[user_id], acting)
    except Refused as refused:
        sent = _draft(request)
        return await _account_view(request, user_id, error=refused.message, status=refused.status, sent=sent)
    return redirect(f"/console/admin/accounts/{user_id}?done={done}", status=303)


async def _acting_admin(session: AsyncSession, user_id: int) -> StaffUser:
    found = await session.execute(select(StaffUser).where(StaffUser.id == user_id).with_for_update())
    return _still_admin(found.scalar_one_or_none())


def _still_admin(user: StaffUser | None) -> StaffUser:
    """The acting admin as the transaction sees it: demoted or deactivated since the request began, they may not."""
    if user is None or not user.active or user.role is not ADMIN:
        raise Refused(FORBIDDEN, status=403)
    return user


def _record(session: AsyncSession, me: StaffUser, action: str, username: str, **detail: object) -> None:
    """An audit entry about a staff account (never a password or a hash: callers pass neither)."""
    audit.record(session, me.username, action, "staff", username[:32], **detail)


async def _end_sessions(session: AsyncSession, user: StaffUser, *, keep: int | None = None) -> int:
    statement = delete(StaffSession).where(StaffSession.user_id == user.id)
    if keep is not None:
        statement = statement.where(StaffSession.id != keep)
    return int((await session.execute(statement)).rowcount or 0)


def _locked_until(user: StaffUser) -> dt.datetime | None:
    until = as_utc(user.locked_until)
    return until if until is not None and until > utcnow() else None


def _local(request: Request, moment: dt.datetime | None) -> str:
    moment = as_utc(moment)
    return moment.astimezone(request.app.ctx.settings.timezone).strftime("%Y-%m-%d %H:%M") if moment else ""


def _account(request: Request, user: StaffUser) -> Account:
    return Account(
        user=user,
        locked_until=_local(request, _locked_until(user)),
        last_login=_local(request, user.last_login_at),
        created=_local(request, user.created_at),
    )


def _choices() -> dict[str, object]:
    return {"role_labels": roles.ROLE_LABELS, "departments": [d.value for d in Department]}


async def _accounts_view(
    request: Request, draft: Draft, *, errors: list[str] | None = None, status: int = 200
) -> HTTPResponse:
    async with request.app.ctx.db.read() as session:
        users = list((await session.execute(select(StaffUser).order_by(StaffUser.username))).scalars())
    return render(
        request,
        "admin_accounts.html",
        status=status,
        accounts=[_account(request, user) for user in users],
        draft=draft,
        errors=errors or [],
        min_password=MIN_PASSWORD_LENGTH,
        **_choices(),
    )


async def _account_view(
    request: Request, user_id: int, *, error: str = "", status: int = 200, sent: Draft | None = None
) -> HTTPResponse:
    async with request.app.ctx.db.read() as session:
        user = await session.get(StaffUser, user_id)
    if user is None:
        return _not_found(request)
    draft = Draft(username=user.username, role=user.role.value, department=user.department or "")
    if sent is not None and sent.role:  # a refused role change shows what was chosen, not what is saved
        draft.role, draft.department = sent.role, sent.department
    return render(
        request,
        "admin_account.html",
        status=status,
        account=_account(request, user),
        draft=draft,
        is_me=user.id == request.ctx.staff.user.id,
        error=error,
        done=DONE.get(request.args.get("done", ""), "") if not error else "",
        min_password=MIN_PASSWORD_LENGTH,
        **_choices(),
    )


def _not_found(request: Request) -> HTTPResponse:
    return render(request, "message.html", status=404, title="没有找到账号", message="没有找到这个账号。")


# --- windows -------------------------------------------------------------------------------------------------------
@admin_pages.get("/windows")
@staff_page(ADMIN)
async def windows(request: Request) -> HTTPResponse:
    settings, db = request.app.ctx.settings, request.app.ctx.db
    async with db.read() as session:
        states = {state.number: state for state in (await session.execute(select(ServiceWindow))).scalars()}
    _, serving = await queue_service.hall_status(db, request.app.ctx.clock().date(), settings.window_count)
    rows = []
    for number in range(1, settings.window_count + 1):
        state = states.get(number)
        rows.append(
            Window(
                number=number,
                departments=settings.window_departments.get(number, ()),
                paused=bool(state and state.paused),
                changed_at=_local(request, state.changed_at) if state else "",
                serving=serving.get(number),
            )
        )
    done, window = request.args.get("done", ""), request.args.get("window", "")
    known = done in WINDOW_DONE and window.isascii() and window.isdigit()
    message = WINDOW_DONE[done].format(window=int(window)) if known else ""
    return render(request, "admin_windows.html", windows=rows, done=message)


@admin_pages.post("/windows/<window:int>/pause")
@staff_page(ADMIN)
async def pause(request: Request, window: int) -> HTTPResponse:
    return await _set_paused(request, window, True)


@admin_pages.post("/windows/<window:int>/resume")
@staff_page(ADMIN)
async def resume(request: Request, window: int) -> HTTPResponse:
    return await _set_paused(request, window, False)


async def _set_paused(request: Request, window: int, paused: bool) -> HTTPResponse:
    if not 1 <= window <= request.app.ctx.settings.window_count:
        return render(request, "message.html", status=404, title="没有这个窗口", message=f"大厅没有{window}号窗口。")
    await queue_service.set_paused(
        request.app.ctx.db,
        window,
        paused,
        actor=request.ctx.staff.user.username,
        today=request.app.ctx.clock().date(),
    )
    done = "paused" if paused else "resumed"
    return redirect(f"/console/admin/windows?done={done}&window={window}", status=303)
