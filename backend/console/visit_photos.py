"""Photos of a case's materials in the console, and the home delivery of its result (零次跑).

- ``/console/attachments/<id>``: one photo, only to staff who may see its case (`backend.services.staff_cases.visible`:
  a department its own cases, a social worker the cases they filed); the same 404 for another's photo as for none.
- ``/console/cases/<number>/photos``: more photos for a case, by its social worker or an admin.
- ``/console/cases/<number>/delivery``: 已送达（上门）with who received the result; the note is the change's
  reason, so it is kept on the case (shown as 送达记录), in the audit log and in the resident's notice.

Forms with photos are streamed (`with_photos`): their limit is the photos' own, not the API's 256 KB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sanic import Blueprint, Request, redirect
from sanic.request import File
from sanic.response import HTTPResponse, file

from backend.case_status import CaseStatus
from backend.catalog.checklist import Need
from backend.console import roles
from backend.console.guard import SESSION_COOKIE, staff_page
from backend.console.render import not_visible, render
from backend.errors import ApiError
from backend.models import Case, CaseAttachment, StaffRole, StaffUser
from backend.services import case_photos as photo_service
from backend.services import cases as case_service
from backend.services import staff_sessions
from backend.services.cases import StatusChange
from backend.uploads import MB, SIGNATURE, BodyTooLarge, Limits, Photo, PhotoRefused, check_photo, receive_form

logger = logging.getLogger(__name__)

photo_pages = Blueprint("console_photos", url_prefix="/console")
FORM_PHOTOS = 4
"""A form keeps this many photos of the largest size; past that, the photos that did not fit are asked for again."""
UPLOADERS = (StaffRole.SOCIAL_WORKER, StaffRole.ADMIN)
RELATIONS = ("本人", "家属", "受委托人", "其他")
SIGNATURE_LABEL = "居民签名"


def limits(request: Request) -> Limits:
    """The photo limits of the settings."""
    settings = request.app.ctx.settings
    return Limits(max_bytes=settings.upload_max_mb * MB, max_pixels=settings.upload_max_pixels)


async def with_photos(request: Request, handler: Callable[..., Awaitable[HTTPResponse]], *args: Any) -> HTTPResponse:
    """Read a streamed form with photos into ``request.body``, then let the guarded ``handler`` take it. Nobody
    signed in: no body is read. ``request.ctx.overflow`` says whether photos past the limit were dropped."""
    if await staff_sessions.current(request.app.ctx.db, request.cookies.get(SESSION_COOKIE)) is None:
        return render(
            request, "message.html", status=403, title="请重新登录", message="登录已过期，请重新登录后再操作。"
        )
    most = limits(request).max_bytes
    try:
        request.ctx.overflow = await receive_form(
            request, keep=FORM_PHOTOS * most + MB, hard_limit=4 * FORM_PHOTOS * most
        )
    except BodyTooLarge:
        message = f"一次提交的照片太多太大，请分几次上传（每张最多 {most // MB} MB）。"
        return render(request, "message.html", status=413, title="照片太大", message=message)
    return await handler(request, *args)


def overflow_message(request: Request) -> str:
    """What to say when photos past the form's limit were dropped."""
    return (
        f"照片总共太大（一次最多约 {FORM_PHOTOS * limits(request).max_bytes // MB} MB），后面的照片没有收到；"
        "已收到的照片列在下面，请把其余照片分几次再选。"
    )


async def checked_photos(request: Request, uploads: Iterable[File], label: str) -> tuple[list[Photo], list[str]]:
    """The photos among ``uploads`` that `check_photo` accepts (checked off the event loop), and the refusal of each
    other one; inputs left empty are skipped. ``label`` names the material in the refusals."""
    photos, refusals = [], []
    for upload in uploads:
        if not upload.body and not upload.name:
            continue  # an input left empty
        named = f"{label}（{upload.name[:40]}）" if upload.name else label
        try:
            photos.append(await asyncio.to_thread(check_photo, upload.body, limits(request), label=named))
        except PhotoRefused as refused:
            logger.info("photo refused (%s, %d bytes)", refused.code, len(upload.body))
            refusals.append(refused.message)
    return photos, refusals


def photo_label(case: Case, material_id: str) -> str:
    """The name of the material a photo shows."""
    if material_id == SIGNATURE:
        return SIGNATURE_LABEL
    return next((m.name for m in case.materials if m.material_id == material_id), material_id)


async def case_photos(request: Request, case: Case) -> list[tuple[CaseAttachment, str]]:
    """The case's photos, oldest first, each with the name of its material (for the case page)."""
    photos = await photo_service.photos_of(request.app.ctx.db, case)
    return [(photo, photo_label(case, photo.material_id)) for photo in photos]


def may_add_photos(user: StaffUser) -> bool:
    """Whether ``user`` may add photos to a case they can see."""
    return user.role in UPLOADERS


@photo_pages.get("/attachments/<attachment_id:int>")
@staff_page()
async def attachment(request: Request, attachment_id: int) -> HTTPResponse:
    found = await photo_service.visible_photo(request.app.ctx.db, request.ctx.staff.user, attachment_id)
    if found is None:
        return not_visible(request, "照片")
    photo, case_number = found
    path = request.app.ctx.photos.case_file(case_number, photo.stored_name)
    if not await asyncio.to_thread(path.is_file):
        logger.error("photo %s of %s is missing from %s", photo.id, case_number, path.parent)
        return not_visible(request, "照片")
    extension = path.suffix
    headers = {
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'inline; filename="{case_number}-{photo.id}{extension}"',
    }
    return await file(path, mime_type=photo.content_type, headers=headers)


# --- more photos for a case ------------------------------------------------------------------------------------------
async def _photos_page(
    request: Request, case: Case, *, saved: int = 0, refusals: list[str] | None = None, status: int = 200
) -> HTTPResponse:
    choices = [(m.material_id, m.name) for m in case.materials if m.status is not Need.LOOKED_UP]
    return render(
        request,
        "file_photos.html",
        status=status,
        case=case,
        photos=await case_photos(request, case),
        choices=[*choices, (SIGNATURE, SIGNATURE_LABEL)],
        saved=saved,
        refusals=refusals or [],
        max_mb=request.app.ctx.settings.upload_max_mb,
    )


@photo_pages.get("/cases/<case_number:str>/photos")
@staff_page(*UPLOADERS)
async def photos_form(request: Request, case_number: str) -> HTTPResponse:
    case = await roles.visible_case(request, case_number)
    return not_visible(request) if case is None else await _photos_page(request, case)


@photo_pages.post("/cases/<case_number:str>/photos", stream=True)
async def add_photos(request: Request, case_number: str) -> HTTPResponse:
    """Photos for a filed case, read as a stream."""
    return await with_photos(request, _add_photos, case_number)


@staff_page(*UPLOADERS)
async def _add_photos(request: Request, case_number: str) -> HTTPResponse:
    case = await roles.visible_case(request, case_number)
    if case is None:
        return not_visible(request)
    user, store = request.ctx.staff.user, request.app.ctx.photos
    material = request.form.get("material") or ""
    if material != SIGNATURE and material not in {m.material_id for m in case.materials}:
        return await _photos_page(request, case, refusals=["请选择照片拍的是哪份材料。"], status=422)
    uploads = request.files.getlist("photo", []) if request.files else []
    photos, refusals = await checked_photos(request, uploads, photo_label(case, material))
    stored = [await asyncio.to_thread(store.save, case.case_number, material, photo) for photo in photos]
    if request.ctx.overflow:
        refusals.append(overflow_message(request))
    if not stored and not refusals:
        refusals.append("请先选择要上传的照片。")
    if stored:
        await photo_service.record(request.app.ctx.db, case, stored, actor=user.username)
    return await _photos_page(request, case, saved=len(stored), refusals=refusals, status=422 if refusals else 200)


# --- home delivery (零次跑) ------------------------------------------------------------------------------------------
def _may_deliver(user: StaffUser, case: Case) -> bool:
    return CaseStatus.DELIVERED in roles.actions(user, case.status)


def _delivery_page(request: Request, case: Case, values: dict[str, str], error: str = "", status: int = 200):
    return render(
        request,
        "visit_delivery.html",
        status=status,
        case=case,
        item_name=case_service.item_name(request.app.ctx.catalog, case.item_id),
        values=values,
        relations=RELATIONS,
        error=error,
    )


@photo_pages.get("/cases/<case_number:str>/delivery")
@staff_page(*UPLOADERS)
async def delivery_form(request: Request, case_number: str) -> HTTPResponse:
    case = await roles.visible_case(request, case_number)
    if case is None:
        return not_visible(request)
    if not _may_deliver(request.ctx.staff.user, case):
        return _delivery_page(request, case, {}, f"办件当前状态为“{case.status.label}”，还不能登记送达。", 409)
    return _delivery_page(request, case, {"receiver": case.resident.name, "relation": "本人", "note": ""})


@photo_pages.post("/cases/<case_number:str>/delivery")
@staff_page(*UPLOADERS)
async def record_delivery(request: Request, case_number: str) -> HTTPResponse:
    user, case = request.ctx.staff.user, await roles.visible_case(request, case_number)
    if case is None:
        return not_visible(request)
    values = {name: (request.form.get(name) or "").strip() for name in ("receiver", "relation", "note")}
    values["relation"] = values["relation"] if values["relation"] in RELATIONS else "其他"
    if not _may_deliver(user, case):
        return _delivery_page(request, case, values, f"办件当前状态为“{case.status.label}”，不能登记送达。", 409)
    if not values["receiver"] or len(values["receiver"]) > 50 or len(values["note"]) > 200:
        return _delivery_page(request, case, values, "请写明签收人姓名（50 字以内），备注 200 字以内。", 422)
    reason = f"上门送达，签收人：{values['receiver']}（{values['relation']}）" + (
        f"；{values['note']}" if values["note"] else ""
    )
    try:
        await case_service.transition_case(
            request.app.ctx.db,
            request.app.ctx.catalog,
            case.case_number,
            StatusChange(to=CaseStatus.DELIVERED, reason=reason),
            actor=user.username,
            today=request.app.ctx.clock().date(),
            links=request.app.ctx.follow_links,
        )
    except ApiError as refused:
        return _delivery_page(request, case, values, refused.message, refused.status)
    return redirect(f"/console/cases/{case.case_number}?done=已登记上门送达。", status=303)
