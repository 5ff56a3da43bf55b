"""Filing for a resident from a home visit (代办): the form, the resident's consent, the case.

``/console/visits/<id>/file`` first lists the 25 items, then asks for the resident's data (checked as the API
checks it), the conditions and residence answers of the item, the materials at hand, their photos and how the
resident consents:

- ``sms_code``: the request waits as a `VisitFiling` while a 6-digit code goes to the resident's phone
  (`backend.sms`); ``/console/filings/<id>`` takes the code the resident reads out (`backend.consent`: 10 minutes,
  5 tries, single use; resent at most every minute) and only then files the case;
- ``signature``: a photo of the resident's signature; the case is filed at once.

Either way `backend.services.visit_filings` files the case through `backend.services.cases.create_case`, the API's
own path, with channel ``proxy`` and the visit's social worker as the proxy's ``staff_username`` (so it is marked 代办
and is in that worker's inbox), under an idempotency key, so a form sent twice files one case. The photos move from
staging into the case's folder and are recorded as `CaseAttachment` rows. The form is checked by the API's own body
(`backend.api.schemas.CaseCreate`), so the console refuses exactly what the API refuses.

The form is read as a stream (`visit_photos.with_photos`); photos are checked and staged before anything else, so a
form sent back with an error loses neither what was typed nor the photos already taken.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sanic import Blueprint, Request, redirect
from sanic.response import HTTPResponse

from backend import consent
from backend.api.common import validation_error
from backend.api.schemas import CaseCreate
from backend.catalog.eligibility import check_eligibility
from backend.catalog.schema import Item, ResidenceRule
from backend.console.guard import staff_page
from backend.console.render import not_visible, render
from backend.console.visit_photos import checked_photos, overflow_message, with_photos
from backend.console.visits import WORKERS, done_message, visible_visit
from backend.errors import ApiError
from backend.models import Visit, VisitStatus, as_utc, utcnow
from backend.services import cases as case_service
from backend.services import visit_filings
from backend.services.cases import NewCase
from backend.services.visit_filings import FilingRequest
from backend.uploads import SIGNATURE, STAGING_KEY, PhotoStore
from vocabulary.masking import mask_phone

filing_pages = Blueprint("console_filing", url_prefix="/console")
CONSENTS = {"sms_code": "短信验证码", "signature": "签名照片"}


@dataclass
class FilingForm:
    """What the filing form shows: the values typed, the errors, the photos taken so far."""

    values: dict[str, Any]
    errors: dict[str, str]
    photo_errors: list[str]
    staging: str


def _item(request: Request, item_id: str | None) -> Item | None:
    return next((item for item in request.app.ctx.catalog.items if item.id == item_id), None)


def _photo_labels(item: Item) -> dict[str, str]:
    labels = {m.id: m.name for m in item.materials if not m.looked_up}
    return labels | {SIGNATURE: "居民签名"}


async def _render_form(request: Request, visit: Visit, item: Item, form: FilingForm, *, status: int = 200):
    user = request.ctx.staff.user
    staged = await asyncio.to_thread(request.app.ctx.photos.staged, form.staging, user.username)
    catalog = request.app.ctx.catalog
    used = {m.condition for m in item.materials if m.condition}
    return render(
        request,
        "file_form.html",
        status=status,
        visit=visit,
        item=item,
        form=form,
        staged=staged,
        photo_labels=_photo_labels(item),
        conditions=[c for c in catalog.conditions if c.id in used and c.id != "proxy"],
        questions=[rule for rule in item.eligibility if isinstance(rule, ResidenceRule)],
        consents=CONSENTS,
        max_mb=request.app.ctx.settings.upload_max_mb,
    )


@filing_pages.get("/visits/<visit_id:int>/file")
@staff_page(*WORKERS)
async def filing_form(request: Request, visit_id: int) -> HTTPResponse:
    visit = await visible_visit(request, visit_id)
    if visit is None:
        return not_visible(request, "走访")
    if visit.status is VisitStatus.CANCELLED:
        return render(request, "message.html", status=409, title="走访已取消", message="这次走访已取消，不能代办。")
    item = _item(request, request.args.get("item"))
    if item is None:
        departments: dict[str, list[Item]] = {}
        for each in request.app.ctx.catalog.items:
            departments.setdefault(each.department.value, []).append(each)
        return render(request, "file_item.html", visit=visit, departments=departments)
    values = {"name": visit.resident_name, "phone": visit.phone or "", "community": visit.community or ""}
    form = FilingForm(values | {"consent": "sms_code"}, {}, [], PhotoStore.new_key())
    return await _render_form(request, visit, item, form)


@filing_pages.post("/visits/<visit_id:int>/file", stream=True)
async def file_for_resident(request: Request, visit_id: int) -> HTTPResponse:
    """The filing form, read as a stream (it carries photos)."""
    return await with_photos(request, _file_for_resident, visit_id)


def _read_filing(request: Request, item: Item) -> dict[str, Any]:
    form = request.form
    used = {m.condition for m in item.materials if m.condition}
    answers = {}
    for rule in item.eligibility:
        if isinstance(rule, ResidenceRule) and form.get(f"answer:{rule.requires.value}") in ("yes", "no"):
            answers[rule.requires.value] = form.get(f"answer:{rule.requires.value}") == "yes"
    text = {name: (form.get(name) or "").strip()[:100] for name in ("name", "id_number", "phone", "community")}
    return text | {
        "conditions": [c for c in form.getlist("condition", []) if c in used and c != "proxy"],
        "answers": answers,
        "received": [m for m in form.getlist("received", []) if m in _photo_labels(item) and m != SIGNATURE],
        "consent": form.get("consent") if form.get("consent") in CONSENTS else "",
    }


def _case_request(values: dict[str, Any], item: Item, proxy: str) -> tuple[NewCase | None, dict[str, str]]:
    """The case the form asks for, or the form's fields with what is wrong in them (the API's own checks)."""
    body = {
        "item_id": item.id,
        "resident": {
            "id_number": values["id_number"],
            "name": values["name"],
            "phone": values["phone"] or None,
            "community": values["community"] or None,
        },
        "channel": "proxy",
        "materials_received": values["received"],
        "conditions": values["conditions"],
        "answers": values["answers"],
        "proxy": {"name": proxy, "staff_username": proxy, "consent": values["consent"] or "sms_code"},
    }
    try:
        return CaseCreate.model_validate(body).command(), {}
    except ValidationError as exc:
        details = validation_error(exc).details
        return None, {d["field"].removeprefix("resident."): d["message"] for d in reversed(details)}


async def _take_photos(request: Request, staging: str, labels: dict[str, str]) -> list[str]:
    """Check and stage every photo of the form; the refusals, one sentence each."""
    store, owner, refusals = request.app.ctx.photos, request.ctx.staff.user.username, []
    for name in request.form.getlist("drop", []):
        await asyncio.to_thread(store.unstage, staging, owner, name)
    for field, files in (request.files or {}).items():
        material = field.removeprefix("photo:")
        if not field.startswith("photo:") or material not in labels:
            continue
        photos, refused = await checked_photos(request, files, labels[material])
        refusals += refused
        for photo in photos:
            await asyncio.to_thread(store.stage, staging, owner, material, photo)
    if request.ctx.overflow:
        refusals.append(overflow_message(request))
    return refusals


@staff_page(*WORKERS)
async def _file_for_resident(request: Request, visit_id: int) -> HTTPResponse:
    user, today = request.ctx.staff.user, request.app.ctx.clock().date()
    visit, item = await visible_visit(request, visit_id), _item(request, request.form.get("item"))
    if visit is None or item is None or visit.status is VisitStatus.CANCELLED:
        return not_visible(request, "走访")
    store: PhotoStore = request.app.ctx.photos
    staging = request.form.get("staging") or ""
    if not STAGING_KEY.fullmatch(staging) or not await asyncio.to_thread(store.usable, staging, user.username):
        staging = store.new_key()
    await asyncio.to_thread(store.sweep)
    values = _read_filing(request, item)
    refusals = await _take_photos(request, staging, _photo_labels(item))
    case_request, errors = _case_request(values, item, visit.staff_username)
    if not values["consent"]:
        errors["consent"] = "请选择居民同意代办的方式。"
    elif values["consent"] == "sms_code" and not values["phone"]:
        errors.setdefault("phone", "用短信验证码确认，需要填写居民本人的手机号码。")
    staged = await asyncio.to_thread(store.staged, staging, user.username)
    if values["consent"] == "signature" and not any(p.material_id == SIGNATURE for p in staged):
        errors["signature"] = "选择“签名照片”方式时，请拍一张居民签名的照片上传。"
    if case_request is not None and not errors:
        verdict = check_eligibility(
            item, id_number=case_request.resident.id_number, answers=values["answers"], today=today
        )
        if verdict.eligible is False:
            errors["form"] = " ".join(verdict.reasons)
    form = FilingForm(values, errors, refusals, staging)
    if errors or refusals or case_request is None:
        return await _render_form(request, visit, item, form, status=422 if errors or refusals else 200)
    request_to_file = FilingRequest(visit.id, user.username, item.id, case_request, staging)
    if values["consent"] == "signature":
        try:
            case = await visit_filings.file_signed(
                request.app.ctx.db, request.app.ctx.catalog, store, request_to_file, actor=user.username, today=today
            )
        except ApiError as refused:
            form.errors["form"] = refused.message
            return await _render_form(request, visit, item, form, status=refused.status)
        return _filed(case.case_number)
    filing_id = await visit_filings.wait_for_code(request.app.ctx.db, request_to_file)
    refusal = await _send_code(request, filing_id)
    done = f"验证码已发送到 {mask_phone(case_request.resident.phone)}。" if refusal is None else ""
    return redirect(f"/console/filings/{filing_id}?done={done}", status=303)


def _filed(case_number: str) -> HTTPResponse:
    return redirect(f"/console/cases/{case_number}?done=已代办提交，居民已同意。", status=303)


# --- the resident's code ---------------------------------------------------------------------------------------------
async def _send_code(request: Request, filing_id: int) -> consent.CodeRefused | None:
    """A new code for the filing, sent to the resident's phone; the refusal when none may go out now."""
    app = request.app
    return await visit_filings.send_code(
        app.ctx.db,
        app.ctx.sms,
        app.ctx.catalog,
        filing_id,
        ttl_s=app.ctx.settings.sms_code_ttl_s,
        actor=request.ctx.staff.user.username,
    )


async def _code_page(request: Request, filing_id: int, *, error: str = "", status: int = 200) -> HTTPResponse:
    found = await visit_filings.visible_filing(request.app.ctx.db, request.ctx.staff.user, filing_id)
    if found is None:
        return not_visible(request, "代办")
    filing, visit = found
    expires_at = as_utc(filing.code_expires_at)
    minutes = max(0, -(-int((expires_at - utcnow()).total_seconds()) // 60)) if expires_at else 0
    return render(
        request,
        "file_code.html",
        status=status,
        filing=filing,
        visit=visit,
        item_name=case_service.item_name(request.app.ctx.catalog, filing.item_id),
        phone=mask_phone(filing.phone),
        minutes=minutes,
        error=error,
        done=done_message(request),
    )


@filing_pages.get("/filings/<filing_id:int>")
@staff_page(*WORKERS)
async def code_page(request: Request, filing_id: int) -> HTTPResponse:
    return await _code_page(request, filing_id)


@filing_pages.post("/filings/<filing_id:int>/confirm")
@staff_page(*WORKERS)
async def confirm_code(request: Request, filing_id: int) -> HTTPResponse:
    db, user = request.app.ctx.db, request.ctx.staff.user
    if await visit_filings.visible_filing(db, user, filing_id) is None:
        return not_visible(request, "代办")
    try:
        filing = await visit_filings.confirm_code(
            db, filing_id, (request.form.get("code") or "")[:20], actor=user.username
        )
        case = await visit_filings.file_confirmed(
            db,
            request.app.ctx.catalog,
            request.app.ctx.photos,
            filing,
            actor=user.username,
            today=request.app.ctx.clock().date(),
        )
    except consent.CodeRefused as refused:
        return await _code_page(
            request, filing_id, error=refused.message, status=409 if refused.code == "used" else 422
        )
    except ApiError as refused:
        return await _code_page(request, filing_id, error=refused.message, status=refused.status)
    return _filed(case.case_number)


@filing_pages.post("/filings/<filing_id:int>/resend")
@staff_page(*WORKERS)
async def resend_code(request: Request, filing_id: int) -> HTTPResponse:
    if await visit_filings.visible_filing(request.app.ctx.db, request.ctx.staff.user, filing_id) is None:
        return not_visible(request, "代办")
    refusal = await _send_code(request, filing_id)
    if refusal is not None:
        return await _code_page(
            request, filing_id, error=refusal.message, status=429 if refusal.code == "too_soon" else 409
        )
    return redirect(f"/console/filings/{filing_id}?done=新的验证码已发送，旧的验证码作废。", status=303)


@filing_pages.post("/filings/<filing_id:int>/cancel")
@staff_page(*WORKERS)
async def cancel_filing(request: Request, filing_id: int) -> HTTPResponse:
    db, user = request.app.ctx.db, request.ctx.staff.user
    found = await visit_filings.visible_filing(db, user, filing_id)
    if found is None:
        return not_visible(request, "代办")
    filing, visit = found
    await visit_filings.cancel(db, request.app.ctx.photos, filing, actor=user.username)
    return redirect(f"/console/visits/{visit.id}?done=已放弃这次代办。", status=303)
