"""Signing in and out of the staff console (``/console/login``, ``/console/logout``). Tries from one client address
are throttled (`backend.services.sign_in_throttle`) before the name and password are even looked at."""

from __future__ import annotations

import datetime as dt
import secrets

from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse

from backend.console.guard import LOGIN_COOKIE, SESSION_COOKIE, client_address, safe_next, same_origin, staff_page
from backend.console.render import render
from backend.services import sign_in_throttle, staff_sessions

login_pages = Blueprint("console_login", url_prefix="/console")
THROTTLED = "登录尝试过于频繁，请{wait}后再试。"
_COOKIE = {"path": "/", "secure": True, "httponly": True, "samesite": "Strict"}


@login_pages.get("/")
async def home(request: Request) -> HTTPResponse:
    return redirect("/console/cases")


@login_pages.get("/login")
async def login_form(request: Request) -> HTTPResponse:
    return _form(request, next_path=safe_next(request.args.get("next")))


@login_pages.post("/login")
async def login(request: Request) -> HTTPResponse:
    form = request.form
    next_path = safe_next(form.get("next"))
    if not same_origin(request) or not staff_sessions.tokens_match(
        request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf")
    ):
        return _form(request, next_path=next_path, error="页面已过期，请重新输入。", status=403)
    username, password = (form.get("username") or "").strip(), form.get("password") or ""
    db, address = request.app.ctx.db, client_address(request)
    wait_s = await sign_in_throttle.admit(db, address, request.app.ctx.clock().astimezone(dt.UTC))
    if wait_s is not None:
        error = THROTTLED.format(wait=_wait_text(wait_s))
        refused = _form(request, next_path=next_path, error=error, username=username[:50], status=429)
        refused.headers["Retry-After"] = str(wait_s)
        return refused
    try:
        token, _ = await staff_sessions.sign_in(
            db, username[:50], password[:200], replacing=request.cookies.get(SESSION_COOKIE)
        )
    except staff_sessions.LoginRefused as refused:
        return _form(request, next_path=next_path, error=refused.message, username=username[:50], status=401)
    await sign_in_throttle.succeeded(db, address)
    response = redirect(next_path, status=303)
    response.add_cookie(SESSION_COOKIE, token, **_COOKIE)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@login_pages.post("/logout")
@staff_page()
async def logout(request: Request) -> HTTPResponse:
    await staff_sessions.sign_out(request.app.ctx.db, request.cookies.get(SESSION_COOKIE))
    response = redirect("/console/login", status=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _wait_text(seconds: int) -> str:
    return f" {seconds} 秒" if seconds < 60 else f" {-(-seconds // 60)} 分钟"


def _form(request: Request, *, next_path: str, error: str = "", username: str = "", status: int = 200) -> HTTPResponse:
    """The login page, with a fresh token for its form in a cookie of its own (there is no session yet)."""
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", status=status, login_csrf=token, next_path=next_path, error=error, username=username
    )
    response.add_cookie(LOGIN_COOKIE, token, max_age=3600, **_COOKIE)
    return response
