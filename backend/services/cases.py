"""Filing cases, moving them through the status machine, and finding them.

A proxy (代办) case carries how the resident consented. Consent nobody witnessed (a filing through the bot, where
anyone can say "yes") is recorded ``pending``: staff confirm it at the window (`confirm_consent`, audited with who and
when), and until then the case cannot be accepted or processed. A social worker's filing is confirmed when it is
filed (the resident's SMS code or signature photo).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.case_status import REASON_REQUIRED, CaseStatus, IllegalTransition, check_transition
from backend.catalog.checklist import ChecklistEntry, Need, UnknownMaterial, build_checklist
from backend.catalog.eligibility import check_eligibility
from backend.catalog.schema import Catalog, Item
from backend.db import Database
from backend.errors import conflict, invalid, not_found
from backend.models import Case, CaseMaterial, Channel, Resident, utcnow
from backend.notices import case_changes
from backend.services import audit
from backend.services.documents import FollowLinks
from backend.services.sequences import next_value
from backend.workdays import add_working_days
from vocabulary.case_numbers import format_case_number
from vocabulary.masking import mask_id_number, mask_phone

logger = logging.getLogger(__name__)

PENDING = "pending"
"""A proxy case's consent that nobody has witnessed yet."""
CONFIRMED_AT_WINDOW = "in_person"
"""What a pending consent becomes once staff confirmed it with the resident at the window."""
NEEDS_CONSENT = frozenset({CaseStatus.ACCEPTED, CaseStatus.PROCESSING})
"""Statuses a proxy case reaches only with the resident's confirmed consent (correction notices, rejection and
withdrawal stay possible)."""
CONSENT_PENDING = (
    "这是代办的申请，居民本人还没有确认同意代办。请先在窗口核实居民本人同意并点“确认居民同意代办”，再受理。"
)


MAX_REASON_LENGTH = 500
"""The longest reason a status change may carry (it is printed on notices and sent on WeChat)."""


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResidentDetails(_Command):
    """The resident a case is for; the ID number and phone already checked (``backend.id_checks``)."""

    id_number: str
    name: str
    phone: str | None = None
    community: str | None = None


class ProxyDetails(_Command):
    """Who files on the resident's behalf (代办) and how the resident consented (`PENDING`: not witnessed yet)."""

    name: str
    id_number: str | None = None
    phone: str | None = None
    staff_username: str | None = None
    """Set when the proxy is one of the centre's social workers."""
    consent: Literal["in_person", "sms_code", "signature", "pending"]


class NewCase(_Command):
    """A case to file. A pydantic model (frozen) because its JSON form is kept: its fingerprint makes a repeated
    idempotency key safe, and a social worker's filing waits as this JSON for the resident's consent code."""

    item_id: str
    resident: ResidentDetails
    channel: Channel
    materials_received: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    """Catalog condition ids that hold; they add conditional materials."""
    answers: dict[str, bool] = {}
    """Answers to the item's residence questions, keyed by requirement."""
    proxy: ProxyDetails | None = None
    wechat_openid: str | None = None


@dataclass(frozen=True)
class StatusChange:
    """Move a case to ``to``; ``received`` and ``missing`` mark materials (for 待补正 the whole missing list)."""

    to: CaseStatus
    reason: str | None = None
    received: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Filed:
    """A filed case and whether this request created it (False: an idempotent replay)."""

    case: Case
    created: bool


def find_item(catalog: Catalog, item_id: str) -> Item:
    """The catalog item or a 404 naming it."""
    for item in catalog.items:
        if item.id == item_id:
            return item
    raise not_found("unknown_item", f"没有找到办理事项“{item_id}”。")


def item_name(catalog: Catalog, item_id: str) -> str:
    """The item's name; its id when the catalog no longer lists it (an old case outlives a catalog change)."""
    return next((item.name for item in catalog.items if item.id == item_id), item_id)


def _fingerprint(request: NewCase) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _upsert_resident(session: AsyncSession, request: NewCase) -> int:
    """Insert or refresh the resident in one statement (safe when two filings race)."""
    data = request.resident
    values = {"id_number": data.id_number, "name": data.name, "phone": data.phone, "community": data.community}
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    statement = insert(Resident).values(**values, created_at=utcnow(), updated_at=utcnow())
    refreshed = {"name": statement.excluded.name, "updated_at": statement.excluded.updated_at}
    if data.phone:
        refreshed["phone"] = statement.excluded.phone
    if data.community:
        refreshed["community"] = statement.excluded.community
    statement = statement.on_conflict_do_update(index_elements=["id_number"], set_=refreshed)
    result = await session.execute(statement.returning(Resident.id))
    return int(result.scalar_one())


def personal_checklist(
    catalog: Catalog, item: Item, conditions: Collection[str], received: Collection[str], *, received_field: str
) -> list[ChecklistEntry]:
    """The checklist for these conditions and materials at hand; 422 naming unknown conditions or materials."""
    unknown = set(conditions) - {c.id for c in catalog.conditions}
    if unknown:
        raise invalid("unknown_condition", f"不认识的情形：{'、'.join(sorted(unknown))}。", field="conditions")
    try:
        return build_checklist(item, conditions, received)
    except UnknownMaterial as exc:
        raise invalid(
            "unknown_material", f"“{item.name}”没有这些材料：{'、'.join(exc.material_ids)}。", field=received_field
        ) from None


def _case_materials(catalog: Catalog, item: Item, request: NewCase) -> list[CaseMaterial]:
    conditions = set(request.conditions)
    if request.channel is Channel.PROXY or request.proxy is not None:
        conditions.add("proxy")
    entries = personal_checklist(
        catalog, item, conditions, request.materials_received, received_field="materials_received"
    )
    return [
        CaseMaterial(position=index, material_id=e.material.id, name=e.material.name, status=e.need)
        for index, e in enumerate(entries)
    ]


async def _existing_for_key(session: AsyncSession, key: str, fingerprint: str) -> Case | None:
    case = (await session.execute(select(Case).where(Case.idempotency_key == key))).scalar_one_or_none()
    if case is not None and case.request_fingerprint != fingerprint:
        raise conflict("idempotency_key_reused", "这个请求编号已用于另一份申请，请勿重复使用。")
    return case


async def create_case(
    db: Database,
    catalog: Catalog,
    request: NewCase,
    *,
    actor: str,
    today: dt.date,
    idempotency_key: str | None,
    consent_witnessed: bool = True,
) -> Filed:
    """File a case; with an idempotency key, a repeated request returns the case filed the first time. A proxy
    filing's consent is recorded ``pending`` when ``consent_witnessed`` is False (the caller cannot have seen the
    resident agree, whatever the request says) or the request says so; otherwise it counts as confirmed by the
    filing social worker (or ``actor``) now."""
    if request.proxy is not None and not consent_witnessed and request.proxy.consent != PENDING:
        request = request.model_copy(update={"proxy": request.proxy.model_copy(update={"consent": PENDING})})
    item = find_item(catalog, request.item_id)
    result = check_eligibility(item, id_number=request.resident.id_number, answers=request.answers, today=today)
    if result.eligible is False:
        raise invalid("not_eligible", " ".join(result.reasons), details={"reasons": result.reasons})
    materials = _case_materials(catalog, item, request)
    fingerprint = _fingerprint(request)
    try:
        async with db.write() as session:
            if idempotency_key:
                existing = await _existing_for_key(session, idempotency_key, fingerprint)
                if existing is not None:
                    return Filed(existing, created=False)
            resident_id = await _upsert_resident(session, request)
            seq = await next_value(session, f"case:{today:%Y%m%d}")
            deadline = add_working_days(today, item.processing.working_days) if not item.immediate else None
            proxy = request.proxy
            case = Case(
                case_number=format_case_number(today, seq),
                item_id=item.id,
                department=item.department.value,
                resident_id=resident_id,
                channel=request.channel,
                status=CaseStatus.SUBMITTED,
                immediate=item.immediate,
                working_days=item.processing.working_days,
                deadline=deadline.day if deadline else None,
                deadline_provisional=bool(deadline and deadline.provisional),
                proxy_name=proxy.name if proxy else None,
                proxy_id_number=proxy.id_number if proxy else None,
                proxy_phone=proxy.phone if proxy else None,
                proxy_staff=proxy.staff_username if proxy else None,
                consent=proxy.consent if proxy else None,
                consent_confirmed_by=(proxy.staff_username or actor) if proxy and proxy.consent != PENDING else None,
                consent_confirmed_at=utcnow() if proxy and proxy.consent != PENDING else None,
                wechat_openid=request.wechat_openid,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                materials=materials,
            )
            session.add(case)
            await session.flush()
            audit.record(
                session,
                actor,
                "case.create",
                "case",
                case.case_number,
                item=item.id,
                channel=request.channel.value,
                resident=mask_id_number(request.resident.id_number),
                phone=mask_phone(request.resident.phone),
                proxy=bool(proxy),
                consent=proxy.consent if proxy else None,
            )
            await session.refresh(case, attribute_names=["resident"])  # the response shows the resident
        logger.info(
            "filed %s (%s) for resident %s", case.case_number, item.id, mask_id_number(request.resident.id_number)
        )
        return Filed(case, created=True)
    except IntegrityError:
        if not idempotency_key:
            raise
        # Another request with the same key won the race; answer with its case.
        async with db.read() as session:
            existing = await _existing_for_key(session, idempotency_key, fingerprint)
        if existing is None:
            raise
        return Filed(await get_case(db, existing.case_number), created=False)


async def get_case(db: Database, case_number: str) -> Case:
    """The case with its resident and materials, or 404."""
    async with db.read() as session:
        case = (await session.execute(select(Case).where(Case.case_number == case_number))).scalar_one_or_none()
    if case is None:
        raise not_found("unknown_case", f"没有找到办件编号为 {case_number[:20]} 的办件，请核对。")
    return case


def _set_materials(case: Case, ids: Sequence[str], status: Need) -> None:
    by_id = {m.material_id: m for m in case.materials}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise invalid("unknown_material", f"这个办件没有这些材料：{'、'.join(unknown)}。")
    for material_id in ids:
        if by_id[material_id].status is not Need.LOOKED_UP:
            by_id[material_id].status = status


async def transition_case(
    db: Database,
    catalog: Catalog,
    case_number: str,
    change: StatusChange,
    *,
    actor: str,
    today: dt.date,
    links: FollowLinks,
) -> Case:
    """Apply one status change (with material updates); illegal changes are refused with 409.
    The notices the change calls for (WeChat, printed at the window, their QR codes leading under ``links``) are
    written in the same transaction."""
    async with db.write() as session:
        statement = select(Case).where(Case.case_number == case_number).with_for_update(of=Case)
        case = (await session.execute(statement)).unique().scalar_one_or_none()
        if case is None:
            raise not_found("unknown_case", f"没有找到办件编号为 {case_number[:20]} 的办件，请核对。")
        previous = case.status
        try:
            check_transition(previous, change.to)
        except IllegalTransition:
            raise conflict(
                "illegal_transition",
                f"办件当前状态为“{previous.label}”，不能改为“{change.to.label}”。",
                details={"from": previous.value, "to": change.to.value},
            ) from None
        if change.to in NEEDS_CONSENT and case.consent == PENDING:
            raise conflict("consent_pending", CONSENT_PENDING, details={"consent": PENDING})
        if change.reason is not None and len(change.reason) > MAX_REASON_LENGTH:
            raise invalid("reason_too_long", f"原因最多 {MAX_REASON_LENGTH} 个字。", field="reason")
        if change.to in REASON_REQUIRED and not change.reason:
            raise invalid("reason_required", f"“{change.to.label}”需要写明原因。", field="reason")
        _set_materials(case, change.received, Need.RECEIVED)
        _set_materials(case, change.missing, Need.MISSING)
        if change.to is CaseStatus.NEEDS_CORRECTION and not missing_names(case):
            raise invalid("nothing_missing", "补正需要列明缺少的材料。", field="missing")
        now = utcnow()
        case.status = change.to
        case.status_reason = change.reason
        if change.to is CaseStatus.ACCEPTED and case.accepted_at is None:
            case.accepted_at = now
            if not case.immediate:
                # The promised period runs from acceptance, not from filing.
                deadline = add_working_days(today, case.working_days)
                case.deadline, case.deadline_provisional = deadline.day, deadline.provisional
        if change.to is CaseStatus.COMPLETED:
            case.completed_at = now
        if change.to.terminal:
            case.closed_at = now
        audit.record(
            session,
            actor,
            "case.transition",
            "case",
            case.case_number,
            **{
                "from": previous.value,
                "to": change.to.value,
                "reason": change.reason,
                "received": list(change.received),
                "missing": list(change.missing),
            },
        )
        await case_changes.write_notices(
            session,
            case,
            item_name=item_name(catalog, case.item_id),
            missing=missing_names(case),
            today=today,
            links=links,
        )
    return await get_case(db, case_number)


@dataclass(frozen=True)
class CaseFilter:
    """Filters of the case list; all optional, combined with AND."""

    id_number: str | None = None
    phone: str | None = None
    statuses: tuple[CaseStatus, ...] = ()
    department: str | None = None
    item_id: str | None = None
    channel: Channel | None = None


def _filtered(statement: Select, where: CaseFilter) -> Select:
    if where.id_number or where.phone:
        statement = statement.join(Resident, Case.resident_id == Resident.id)
    if where.id_number:
        statement = statement.where(Resident.id_number == where.id_number)
    if where.phone:
        statement = statement.where(Resident.phone == where.phone)
    if where.statuses:
        statement = statement.where(Case.status.in_(where.statuses))
    if where.department:
        statement = statement.where(Case.department == where.department)
    if where.item_id:
        statement = statement.where(Case.item_id == where.item_id)
    if where.channel:
        statement = statement.where(Case.channel == where.channel)
    return statement


async def list_cases(db: Database, where: CaseFilter, *, limit: int, offset: int) -> tuple[int, list[Case]]:
    """(total matching, one page newest first)."""
    async with db.read() as session:
        total = (await session.execute(_filtered(select(func.count(Case.id)), where))).scalar_one()
        page = (
            _filtered(select(Case), where).order_by(Case.created_at.desc(), Case.id.desc()).limit(limit).offset(offset)
        )
        cases = list((await session.execute(page)).unique().scalars())
    return int(total), cases


def missing_names(case: Case) -> list[str]:
    """Names of the case's missing materials, in checklist order (the 一次性告知 list)."""
    return [m.name for m in case.materials if m.status is Need.MISSING]


async def confirm_consent(db: Database, case_number: str, *, actor: str) -> Case:
    """Staff confirmed at the window that the resident agrees to the proxy filing: the pending consent becomes
    ``in_person``, with who and when (audited). 404 for an unknown case; 409 when its consent is not pending."""
    async with db.write() as session:
        statement = select(Case).where(Case.case_number == case_number).with_for_update(of=Case)
        case = (await session.execute(statement)).unique().scalar_one_or_none()
        if case is None:
            raise not_found("unknown_case", f"没有找到办件编号为 {case_number[:20]} 的办件，请核对。")
        if case.consent != PENDING:
            raise conflict("consent_not_pending", "这个办件不需要再确认代办同意。")
        now = utcnow()
        case.consent, case.consent_confirmed_by, case.consent_confirmed_at = CONFIRMED_AT_WINDOW, actor, now
        audit.record(session, actor, "case.consent_confirmed", "case", case.case_number, consent=CONFIRMED_AT_WINDOW)
    return await get_case(db, case_number)
