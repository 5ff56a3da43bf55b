"""Pages a resident opens by scanning the QR code on a ticket or a receipt (in WeChat's browser, or any phone's):
where their number stands, and how their case is going. Large type, refreshing itself, no personal data.

A ticket's page is public (a number and its place in the queue say nothing about anyone). A case's page shows
the item and its status, which can be sensitive (低保, 残疾证 …), so its link carries a keyed signature of the case
number (``FOLLOW_SECRET``): case numbers are sequential, and guessing one must not reveal someone's business.
Without the signed link, the page asks for the case number with the phone's last four digits or the receipt's 查询码,
and answers by the one rule of backend.services.case_access (the same answer for every failure, wrong codes counted).
"""

from __future__ import annotations

import datetime as dt
import html as html_text
from pathlib import Path

from sanic import Blueprint, Request, html

from backend.api.common import today
from backend.errors import ApiError
from backend.models import Case, TicketStatus
from backend.services import case_access
from backend.services import cases as case_service
from backend.services import queue as queue_service
from backend.services.cases import item_name
from security.tokens import create_secret_file
from vocabulary.follow_urls import case_signature_valid

follow_pages = Blueprint("follow_pages", url_prefix="/follow")
REFRESH_S = 20
TICKET_STATES = {
    TicketStatus.WAITING: "等候中",
    TicketStatus.CALLED: "正在叫您",
    TicketStatus.SERVED: "已办理",
    TicketStatus.SKIPPED: "已过号，请到咨询台",
}


def follow_secret(configured: str, folder: Path) -> bytes:
    """FOLLOW_SECRET, or one generated once and kept in ``folder`` (so printed links stay valid after restarts)."""
    if configured:
        return configured.encode()
    # Made atomically (0600 from the start): two workers starting at once agree on one secret.
    return create_secret_file(folder / "follow-secret").encode()


@follow_pages.get("/ticket/<day:str>/<number:str>")
async def ticket_page(request: Request, day: str, number: str):
    try:
        service_day = dt.date.fromisoformat(day)
        placed = await queue_service.find_ticket(
            request.app.ctx.db, number.upper()[:8], service_day, request.app.ctx.settings.window_count
        )
    except (ValueError, ApiError):
        return _page("没有找到这个号码", ["请核对号码，或到咨询台询问。"], status=404)
    ticket = placed.ticket
    lines = [TICKET_STATES[ticket.status]]
    if ticket.status is TicketStatus.WAITING:
        lines.append(f"前面还有 {placed.ahead} 人")
        if placed.wait_minutes is not None:
            lines.append(f"大约还要 {placed.wait_minutes} 分钟")
    elif ticket.status is TicketStatus.CALLED and ticket.window:
        lines.append(f"请到 {ticket.window} 号窗口")
    if service_day != today(request):
        lines.append(f"（{service_day:%m月%d日}的号码）")
    return _page(ticket.number, lines, refresh=ticket.status in {TicketStatus.WAITING, TicketStatus.CALLED})


@follow_pages.get("/case")
async def case_form(request: Request):
    """The form that asks for a case number and its code."""
    return _case_form("")


@follow_pages.get("/case/<case_number:str>")
async def case_page(request: Request, case_number: str):
    """The case behind the receipt's signed link; without a valid link, the form (the case number filled in)."""
    given = request.args.get("k", "")
    if not given:
        return _case_form(case_number)
    if not case_signature_valid(request.app.ctx.follow_secret, case_number, given):
        return _case_form(case_number, problem="链接无效。", status=404)
    try:
        case = await case_service.get_case(request.app.ctx.db, case_number)
    except ApiError:
        return _page("没有找到这个办件", ["请核对办件编号。"], status=404)
    return _case(request, case)


@follow_pages.post("/case")
async def case_lookup(request: Request):
    """The form's answer: the case when the code is its own, else the form again with the one answer for every
    failure (backend.services.case_access counts wrong codes and locks the case after a few). Only from this site's
    own page: another site's page must not spend a resident's tries (and lock their case) from a visitor's browser."""
    origin = request.headers.get("origin")
    doors = getattr(request.app.ctx, "doors", None)
    if origin and doors is not None and not doors.origin_allowed(origin, request.headers.get("host", "")):
        return _page("请在本页查询", ["请打开受理回执上的二维码链接，或在公众号回复“查进度”。"], status=403)
    number = str(request.form.get("case_number") or "").strip().upper()[:20]
    proof = case_access.proof_from_code(str(request.form.get("code") or "")[:16])
    try:
        case = await case_access.owned_case(
            request.app.ctx.db, number, proof, secret=request.app.ctx.follow_secret, today=today(request)
        )
    except ApiError as error:
        return _case_form(number, problem=error.message, status=404)
    return _case(request, case)


def _case(request: Request, case: Case):
    lines = [item_name(request.app.ctx.catalog, case.item_id), f"当前状态：{case.status.label}"]
    if case.deadline:
        lines.append(f"承诺 {case.deadline:%Y年%m月%d日} 前办结")
    return _page(case.case_number, lines)


def _case_form(case_number: str, *, problem: str = "", status: int = 200):
    """Asks for the case number and one code; says nothing about whether the number exists."""
    number = html_text.escape(case_number[:20], quote=True)
    form = f"""<form method="post" action="/follow/case">
<label>办件编号<input name="case_number" value="{number}" maxlength="20" required autocomplete="off"></label>
<label>手机号后四位，或回执上的查询码<input name="code" inputmode="numeric" maxlength="11" required autocomplete="off">
</label><button type="submit">查询</button></form>"""
    lines = [problem] if problem else []
    lines.append("为了保护您的信息，请输入办件编号，以及提交时所留手机号的后四位或回执上的查询码。")
    return _page("查询办件进度", lines, form=form, status=status)


def _page(title: str, lines: list[str], *, refresh: bool = False, status: int = 200, form: str = ""):
    """A page of large lines (escaped here); ``form``: markup of our own, placed after them."""
    body = "".join(f"<p>{html_text.escape(line)}</p>" for line in lines) + form
    meta = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    document = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">{meta}<title>{html_text.escape(title)}</title>
<style>body{{margin:0;padding:8vw;font-family:"PingFang SC","Microsoft YaHei",sans-serif;background:#fff;color:#111}}
h1{{font-size:16vw;margin:0 0 4vw}}p{{font-size:7vw;margin:2vw 0}}small{{color:#555;font-size:4vw}}
label{{display:block;font-size:6vw;margin:3vw 0}}input{{display:block;width:100%;box-sizing:border-box;font-size:7vw}}
button{{font-size:7vw;margin:3vw 0;padding:2vw 8vw}}</style>
</head><body><h1>{html_text.escape(title)}</h1>{body}<small>骆家庄便民服务中心</small></body></html>"""
    return html(document, status=status, headers={"Cache-Control": "no-store"})
