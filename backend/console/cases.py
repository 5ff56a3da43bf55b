"""The console's case pages: each role's inbox (``/console/cases``) and a case with its checklist, history and the
actions the role may take (``/console/cases/<number>``).

Status changes go through `backend.services.cases.transition_case`, the same path as the API: the status machine,
the audit log (with the staff member's name), and the notices to the resident all happen there, in one transaction.
A proxy case filed through the bot waits for the resident's consent: the front desk (or an admin) confirms it on the
case page once the resident agreed at the window (`backend.services.cases.confirm_consent`), and the page shows who
confirmed and when.
"""

from __future__ import annotations

from urllib.parse import urlencode

from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse

from backend.case_status import CaseStatus
from backend.catalog.checklist import Need
from backend.console import roles
from backend.console.guard import staff_page
from backend.console.render import not_visible, render
from backend.console.visit_photos import case_photos, may_add_photos
from backend.errors import ApiError
from backend.models import Channel, StaffRole
from backend.services import cases as case_service
from backend.services import staff_cases
from backend.services.cases import MAX_REASON_LENGTH, StatusChange
from backend.services.staff_cases import InboxFilter, is_overdue

case_pages = Blueprint("console_cases", url_prefix="/console/cases")
PAGE_SIZE = 50
NOTICE_LABELS = {
    "case_accepted": "已受理通知",
    "correction_needed": "补正告知",
    "ready_for_pickup": "办结领取通知",
    "case_status": "状态变更通知",
    "receipt": "受理回执",
    "correction_notice": "补正告知",
    "pickup_notice": "领取通知",
    "rejection_notice": "不予受理告知",
    "withdrawal_notice": "撤销告知",
    "pending": "待发送",
    "sent": "已发送",
    "failed": "发送失败",
    "queued": "待打印",
    "printing": "打印中",
    "printed": "已打印",
    "cancelled": "已取消",
}
"""The case page's names of WeChat notices and printed documents, and of their states."""
HISTORY_LABELS = {"case.create": "登记", "case.photos": "上传材料照片", "case.consent_confirmed": "确认居民同意代办"}
"""What the case's history calls the audit entries other than status changes."""
CHANNEL_LABELS = {Channel.COUNTER: "窗口", Channel.WECHAT: "微信", Channel.CHAT: "在线对话", Channel.PROXY: "社工代办"}
CONSENT_LABELS = {
    "pending": "待确认（居民本人尚未确认同意代办）",
    "in_person": "居民本人在窗口确认",
    "sms_code": "短信验证码确认",
    "signature": "居民签名确认",
}
CONSENT_CONFIRMERS = (StaffRole.FRONT_DESK, StaffRole.ADMIN)
"""Who confirms at the window that the resident agrees to a proxy filing (the role that accepts cases)."""


def _inbox_filter(request: Request, default_statuses: tuple[CaseStatus, ...]) -> InboxFilter:
    """The inbox's filters from the query string; the role's own statuses unless others (or ``all``) are asked."""
    args = request.args
    statuses = tuple(CaseStatus(s) for s in args.getlist("status", []) if s in CaseStatus.__members__.values())
    if not statuses and args.get("all") != "1":
        statuses = default_statuses
    channel = args.get("channel")
    page = args.get("page", "1")
    return InboxFilter(
        statuses=statuses,
        item_id=args.get("item") or None,
        channel=Channel(channel) if channel in Channel.__members__.values() else None,
        overdue=args.get("overdue") == "1",
        number=(args.get("q") or "").strip().upper()[:20] or None,
        page=max(int(page), 1) if page.isdigit() else 1,
    )


@case_pages.get("/")
@staff_page()
async def inbox(request: Request) -> HTTPResponse:
    user, catalog = request.ctx.staff.user, request.app.ctx.catalog
    today = request.app.ctx.clock().date()
    where = _inbox_filter(request, roles.ROLE_INBOX[user.role])
    total, found = await staff_cases.inbox(request.app.ctx.db, user, where, today=today, page_size=PAGE_SIZE)
    return render(
        request,
        "inbox.html",
        cases=[(case, case_service.item_name(catalog, case.item_id), is_overdue(case, today)) for case in found],
        total=total,
        where=where,
        pages=max(1, -(-total // PAGE_SIZE)),
        query=urlencode([(k, v) for k, values in request.args.items() for v in values if k != "page"]),
        items=[item for item in catalog.items if user.department in (None, item.department.value)],
        statuses=list(CaseStatus),
        channels=CHANNEL_LABELS,
        role_label=roles.ROLE_LABELS[user.role],
    )


@case_pages.get("/<case_number:str>")
@staff_page()
async def case_page(request: Request, case_number: str) -> HTTPResponse:
    return await _case_view(request, case_number)


@case_pages.post("/<case_number:str>/transition")
@staff_page()
async def transition(request: Request, case_number: str) -> HTTPResponse:
    user = request.ctx.staff.user
    case = await roles.visible_case(request, case_number)
    if case is None:
        return not_visible(request)
    form = request.form
    target = form.get("to", "")
    if target not in {action.value for action in roles.actions(user, case.status)}:
        return await _case_view(request, case_number, error="您不能对这个办件做这个操作。", status=403)
    reason = (form.get("reason") or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        return await _case_view(request, case_number, error="填写的内容不完整或太长，请检查后重试。", status=422)
    marked = {m.material_id: form.get(f"material:{m.material_id}") for m in case.materials}
    change = StatusChange(
        to=CaseStatus(target),
        reason=reason,
        received=tuple(m for m, mark in marked.items() if mark == Need.RECEIVED),
        missing=tuple(m for m, mark in marked.items() if mark == Need.MISSING),
    )
    try:
        await case_service.transition_case(
            request.app.ctx.db,
            request.app.ctx.catalog,
            case.case_number,
            change,
            actor=user.username,
            today=request.app.ctx.clock().date(),
            links=request.app.ctx.follow_links,
        )
    except ApiError as refused:
        return await _case_view(request, case_number, error=refused.message, status=refused.status)
    done = f"已{roles.ACTION_LABELS[CaseStatus(target)]}。"
    return redirect(f"/console/cases/{case.case_number}?done={done}", status=303)


@case_pages.post("/<case_number:str>/consent")
@staff_page(*CONSENT_CONFIRMERS)
async def confirm_consent(request: Request, case_number: str) -> HTTPResponse:
    """The resident confirmed at the window that they agree to the proxy filing."""
    case = await roles.visible_case(request, case_number)
    if case is None:
        return not_visible(request)
    try:
        await case_service.confirm_consent(request.app.ctx.db, case.case_number, actor=request.ctx.staff.user.username)
    except ApiError as refused:
        return await _case_view(request, case_number, error=refused.message, status=refused.status)
    return redirect(f"/console/cases/{case.case_number}?done=已确认居民同意代办。", status=303)


async def _case_view(request: Request, case_number: str, *, error: str = "", status: int = 200) -> HTTPResponse:
    case = await roles.visible_case(request, case_number)
    if case is None:
        return not_visible(request)
    record = await staff_cases.case_record(request.app.ctx.db, case)
    today = request.app.ctx.clock().date()
    return render(
        request,
        "case.html",
        status=status,
        case=case,
        item_name=case_service.item_name(request.app.ctx.catalog, case.item_id),
        overdue=is_overdue(case, today),
        actions=roles.actions(request.ctx.staff.user, case.status),
        action_labels=roles.ACTION_LABELS,
        history_labels=HISTORY_LABELS,
        notice_labels=NOTICE_LABELS,
        reason_required={CaseStatus.REJECTED, CaseStatus.WITHDRAWN},
        need=Need,
        history=record.history,
        notices=record.notices,
        prints=record.prints,
        photos=await case_photos(request, case),
        may_add_photos=may_add_photos(request.ctx.staff.user),
        channels=CHANNEL_LABELS,
        consent_labels=CONSENT_LABELS,
        may_confirm_consent=case.consent == case_service.PENDING and request.ctx.staff.user.role in CONSENT_CONFIRMERS,
        error=error,
        done=(request.args.get("done") or "")[:40],
    )
