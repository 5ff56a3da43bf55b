"""Signing in and out of the staff console (``/console/login``, ``/console/logout``)."""

from __future__ import annotations

import secrets

from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse

from backend.console import sessions
from backend.console.guard import LOGIN_COOKIE, SESSION_COOKIE, safe_next, same_origin, staff_page
from backend.console.render import render

login_pages = Blueprint("console_login", url_prefix="/console")
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
    if not same_origin(request) or not sessions.tokens_match(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf")):
        return _form(request, next_path=next_path, error="页面已过期，请重新输入。", status=403)
    username, password = (form.get("username") or "").strip(), form.get("password") or ""
    try:
        token, _ = await sessions.sign_in(
            request.app.ctx.db, username[:50], password[:200], replacing=request.cookies.get(SESSION_COOKIE)
        )
    except sessions.LoginRefused as refused:
        return _form(request, next_path=next_path, error=refused.message, username=username[:50], status=401)
    response = redirect(next_path, status=303)
    response.add_cookie(SESSION_COOKIE, token, **_COOKIE)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@login_pages.post("/logout")
@staff_page()
async def logout(request: Request) -> HTTPResponse:
    await sessions.sign_out(request.app.ctx.db, request.cookies.get(SESSION_COOKIE))
    response = redirect("/console/login", status=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _form(request: Request, *, next_path: str, error: str = "", username: str = "", status: int = 200) -> HTTPResponse:
    """The login page, with a fresh token for its form in a cookie of its own (there is no session yet)."""
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", status=status, login_csrf=token, next_path=next_path, error=error, username=username
    )
    response.add_cookie(LOGIN_COOKIE, token, max_age=3600, **_COOKIE)
    return response
