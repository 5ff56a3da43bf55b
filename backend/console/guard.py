"""The console's doors: a page handler runs only for a signed-in user of the right role, and a form is taken only
from a page of this console (its session's CSRF token, and an Origin, when the browser sends one, of this host).

The session cookie is ``__Host-jiujin-staff``: the ``__Host-`` prefix makes browsers refuse it unless it is Secure,
for this host only and for the whole path, so no other site or subdomain can plant or read it; HttpOnly keeps it
from scripts; SameSite=Strict keeps it off requests that other sites start. Browsers treat 127.0.0.1 and localhost
as secure, so this works on a development machine over plain HTTP too.

Which client address sign-in throttling counts (`client_address`): the socket's peer, except that a peer on loopback
is the local nginx (the only proxy in front of the backend: `make run-prod`), whose ``X-Real-IP`` (set by nginx from
the connection, never passed on from the client) names the client. Under `make run` nothing but local processes reach
the backend, which listens on loopback only, so a local process could name any address: it could as well run the
console's code itself.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from sanic import Request, redirect
from sanic.response import HTTPResponse

from backend.console.render import render
from backend.models import StaffRole
from backend.services import staff_sessions
from backend.services.staff_accounts import FORBIDDEN

SESSION_COOKIE = "__Host-jiujin-staff"
LOGIN_COOKIE = "__Host-jiujin-login"
"""Holds the login form's own CSRF token (there is no session yet to keep it in)."""

Handler = Callable[..., Awaitable[HTTPResponse]]


def staff_page(*roles: StaffRole) -> Callable[[Handler], Handler]:
    """Let ``handler`` run for a signed-in user with one of ``roles`` (any role when none are given); POSTs must
    carry the session's CSRF token. The session is ``request.ctx.staff`` (`staff_sessions.SignedIn`)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request, *args: object, **kwargs: object) -> HTTPResponse:
            signed_in = await staff_sessions.current(request.app.ctx.db, request.cookies.get(SESSION_COOKIE))
            if signed_in is None:
                if request.method == "GET":
                    return redirect(f"/console/login?next={quote(request.path)}")
                return render(request, "message.html", status=403, title="请重新登录", message=EXPIRED)
            request.ctx.staff = signed_in
            if any(isinstance(v, int) and not 0 <= v <= MAX_ROW_ID for v in kwargs.values()):
                return render(request, "message.html", status=404, title="没有找到", message=NOT_FOUND)
            if roles and signed_in.user.role not in roles:
                return render(request, "message.html", status=403, title="无权访问", message=FORBIDDEN)
            if request.method == "POST" and not _form_is_ours(request, signed_in.csrf_token):
                return render(request, "message.html", status=403, title="页面已过期", message=STALE_FORM)
            return await handler(request, *args, **kwargs)

        return guarded

    return decorate


MAX_ROW_ID = 2**31 - 1
"""Largest id an INTEGER column holds: a longer number in a path (which SQLite's driver cannot even send) is simply
not found."""
EXPIRED = "登录已过期，请重新登录后再操作。"
NOT_FOUND = "没有找到这个页面要的内容。"
STALE_FORM = "这个表单已过期或不是从本系统提交的，请返回刷新页面后重试。"


def _form_is_ours(request: Request, csrf_token: str) -> bool:
    return same_origin(request) and staff_sessions.tokens_match(csrf_token, request.form.get("csrf"))


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from a page of another origin."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.host


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only, never another site (//evil.example, /\\evil.example)."""
    if target and target.startswith("/console") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return "/console/cases"


REAL_IP_HEADER = "x-real-ip"
"""Set by the project's nginx (`deploy/nginx.conf.j2`) to the client's address."""


def client_address(request: Request) -> str:
    """The client's IP address: the socket's peer, or the ``X-Real-IP`` that a loopback peer (the local nginx)
    names."""
    peer = request.ip or "unknown"
    if _is_loopback(peer):
        real = request.headers.get(REAL_IP_HEADER, "").strip()
        try:
            return str(ipaddress.ip_address(real))
        except ValueError:
            pass
    return peer[:45]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False
