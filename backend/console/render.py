"""Server-rendered pages of the staff console: one Jinja2 environment, autoescaping on, templates in ``templates/``.

Every page gets the signed-in user and the session's CSRF token (for its forms), and is sent with headers that keep
it out of caches and frames and allow no script or style from elsewhere.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sanic import Request, html
from sanic.response import HTTPResponse

from backend.case_status import CaseStatus
from vocabulary.masking import mask_id_number, mask_phone

_environment = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["masked_id"] = lambda value: mask_id_number(value) or ""
_environment.filters["masked_phone"] = lambda value: mask_phone(value) or ""
_environment.filters["status_label"] = lambda value: CaseStatus(value).label
_environment.filters["day"] = lambda value: value.strftime("%Y-%m-%d") if value else ""

HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
}


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTTPResponse:
    """``template`` filled with ``context``, the signed-in user (``me``) and the CSRF token (``csrf``)."""
    signed_in = getattr(request.ctx, "staff", None)
    page = _environment.get_template(template).render(
        me=signed_in.user if signed_in else None,
        csrf=signed_in.csrf_token if signed_in else "",
        today=request.app.ctx.clock().date() if hasattr(request.app.ctx, "clock") else dt.date.today(),
        **context,
    )
    return html(page, status=status, headers=HEADERS)


def not_visible(request: Request, what: str = "办件") -> HTTPResponse:
    """The console's 404 for something that does not exist or that this user may not see: the same answer for
    both, so there is nothing to learn by guessing numbers."""
    return render(
        request, "message.html", status=404, title=f"没有找到{what}", message=f"没有找到这个{what}，或您无权查看。"
    )
