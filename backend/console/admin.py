"""The console's admin pages, for admins only: staff accounts (``/console/admin``, ``/console/admin/accounts/<id>``)
and the hall's windows (``/console/admin/windows``).

Accounts are created and changed by `backend.services.staff_accounts` (its rules are those of `bin/jiujin staff add`;
an admin cannot deactivate or demote themselves; deactivating or resetting a password ends the account's sessions).
A window is paused and resumed through `backend.services.queue.set_paused`, the queue API's own path, so the hall
event (board, LED board, keypads) and the audit entry are written exactly as for a keypad or the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from dataclasses import dataclass

from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse

from backend.catalog.schema import Department
from backend.console import roles
from backend.console.guard import staff_page
from backend.console.render import render
from backend.models import StaffRole, StaffUser, as_utc
from backend.services import queue as queue_service
from backend.services import staff_accounts as accounts_service
from backend.services.passwords import MIN_PASSWORD_LENGTH
from backend.services.staff_accounts import AccountNotFound, AccountRefused, NewAccount

admin_pages = Blueprint("console_admin", url_prefix="/console/admin")
ADMIN = StaffRole.ADMIN

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
    draft = _draft(request)
    account = NewAccount(draft.username, draft.role, draft.department, request.form.get("password") or "")
    problems = accounts_service.problems(account)
    if problems:
        return await _accounts_view(request, draft, errors=problems, status=422)
    try:
        user_id = await accounts_service.create(request.app.ctx.db, account, admin_id=request.ctx.staff.user.id)
    except AccountRefused as refused:
        return await _accounts_view(request, draft, errors=[refused.message], status=refused.status)
    return redirect(f"/console/admin/accounts/{user_id}?done=created", status=303)


@admin_pages.get("/accounts/<user_id:int>")
@staff_page(ADMIN)
async def account(request: Request, user_id: int) -> HTTPResponse:
    return await _account_view(request, user_id)


@admin_pages.post("/accounts/<user_id:int>/role")
@staff_page(ADMIN)
async def change_role(request: Request, user_id: int) -> HTTPResponse:
    role, department = request.form.get("role") or "", request.form.get("department") or ""
    db, me = request.app.ctx.db, request.ctx.staff.user.id
    return await _change(request, user_id, accounts_service.change_role(db, user_id, role, department, admin_id=me))


@admin_pages.post("/accounts/<user_id:int>/deactivate")
@staff_page(ADMIN)
async def deactivate(request: Request, user_id: int) -> HTTPResponse:
    db, me = request.app.ctx.db, request.ctx.staff.user.id
    return await _change(request, user_id, accounts_service.deactivate(db, user_id, admin_id=me))


@admin_pages.post("/accounts/<user_id:int>/reactivate")
@staff_page(ADMIN)
async def reactivate(request: Request, user_id: int) -> HTTPResponse:
    db, me = request.app.ctx.db, request.ctx.staff.user.id
    return await _change(request, user_id, accounts_service.reactivate(db, user_id, admin_id=me))


@admin_pages.post("/accounts/<user_id:int>/password")
@staff_page(ADMIN)
async def reset_password(request: Request, user_id: int) -> HTTPResponse:
    db, me, password = request.app.ctx.db, request.ctx.staff.user.id, request.form.get("password") or ""
    # An admin resetting their own password stays signed in here; every other session of the account ends.
    keep = request.ctx.staff.session_id
    return await _change(
        request, user_id, accounts_service.reset_password(db, user_id, password, admin_id=me, keep_session=keep)
    )


@admin_pages.post("/accounts/<user_id:int>/unlock")
@staff_page(ADMIN)
async def unlock(request: Request, user_id: int) -> HTTPResponse:
    db, me = request.app.ctx.db, request.ctx.staff.user.id
    return await _change(request, user_id, accounts_service.unlock(db, user_id, admin_id=me))


async def _change(request: Request, user_id: int, change: Awaitable[str]) -> HTTPResponse:
    """The account page after ``change`` (a service call): its ``DONE`` message, or the refusal."""
    try:
        done = await change
    except AccountNotFound:
        return _not_found(request)
    except AccountRefused as refused:
        sent = _draft(request)
        return await _account_view(request, user_id, error=refused.message, status=refused.status, sent=sent)
    return redirect(f"/console/admin/accounts/{user_id}?done={done}", status=303)


def _local(request: Request, moment: dt.datetime | None) -> str:
    moment = as_utc(moment)
    return moment.astimezone(request.app.ctx.settings.timezone).strftime("%Y-%m-%d %H:%M") if moment else ""


def _account(request: Request, user: StaffUser) -> Account:
    return Account(
        user=user,
        locked_until=_local(request, accounts_service.locked_until(user)),
        last_login=_local(request, user.last_login_at),
        created=_local(request, user.created_at),
    )


def _choices() -> dict[str, object]:
    return {"role_labels": roles.ROLE_LABELS, "departments": [d.value for d in Department]}


async def _accounts_view(
    request: Request, draft: Draft, *, errors: list[str] | None = None, status: int = 200
) -> HTTPResponse:
    users = await accounts_service.all_accounts(request.app.ctx.db)
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
    user = await accounts_service.account(request.app.ctx.db, user_id)
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
    states = await queue_service.window_states(db)
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
