"""Turn catalog items and database rows into the API's response models."""

from __future__ import annotations

from backend.api.schemas import (
    CaseOut,
    ChecklistEntryOut,
    ConditionOut,
    GuideOut,
    ItemOut,
    MaterialOut,
    NotificationOut,
    PrintJobOut,
    TicketOut,
)
from backend.catalog.schema import Catalog, Item, MaterialForm
from backend.models import Case, Notification, NotificationStatus, PrintJob, as_utc
from backend.services import print_jobs
from backend.services.case_access import receipt_code
from backend.services.cases import missing_names
from backend.services.queue import Placed
from vocabulary.follow_urls import case_path
from vocabulary.masking import mask_id_number, mask_openid, mask_phone

FORM_LABELS = {
    MaterialForm.ORIGINAL: "原件",
    MaterialForm.COPY: "复印件",
    MaterialForm.ORIGINAL_AND_COPY: "原件及复印件",
}


def item_out(item: Item, catalog: Catalog) -> ItemOut:
    """An item with its guide, materials and the conditions they depend on."""
    used = {m.condition for m in item.materials if m.condition}
    return ItemOut(
        id=item.id,
        name=item.name,
        aliases=list(item.aliases),
        department=item.department.value,
        summary=item.summary,
        immediate=item.immediate,
        working_days=item.processing.working_days,
        id_only=item.id_only,
        fee_yuan=item.fee_yuan,
        decided_at=item.decided_at.value,
        guide=GuideOut(**item.guide.model_dump()),
        materials=[
            MaterialOut(
                id=m.id,
                name=m.name,
                form=m.form.value,
                form_label=FORM_LABELS[m.form],
                count=m.count,
                looked_up=m.looked_up,
                condition=m.condition,
                note=m.note,
            )
            for m in item.materials
        ],
        conditions=[ConditionOut(**c.model_dump()) for c in catalog.conditions if c.id in used],
        eligibility=[rule.model_dump(mode="json") for rule in item.eligibility],
    )


def case_out(case: Case, catalog: Catalog, follow_secret: bytes) -> CaseOut:
    """A case with personal numbers masked, the signed path of its page and its 查询码 for residents."""
    names = {item.id: item.name for item in catalog.items}
    resident = case.resident
    return CaseOut(
        case_number=case.case_number,
        item_id=case.item_id,
        item_name=names.get(case.item_id, case.item_id),
        department=case.department,
        status=case.status,
        status_label=case.status.label,
        status_reason=case.status_reason,
        channel=case.channel,
        immediate=case.immediate,
        working_days=case.working_days,
        deadline=case.deadline,
        deadline_provisional=case.deadline_provisional,
        resident_name=resident.name,
        resident_id_number=mask_id_number(resident.id_number) or "",
        resident_phone=mask_phone(resident.phone),
        community=resident.community,
        proxy_name=case.proxy_name,
        proxy_staff=case.proxy_staff,
        consent=case.consent,
        materials=[ChecklistEntryOut(id=m.material_id, name=m.name, status=m.status) for m in case.materials],
        missing=missing_names(case),
        created_at=as_utc(case.created_at),
        updated_at=as_utc(case.updated_at),
        follow_path=case_path(follow_secret, case.case_number),
        receipt_code=receipt_code(follow_secret, case.case_number),
    )


def ticket_out(placed: Placed) -> TicketOut:
    """A ticket and the people ahead of it."""
    t = placed.ticket
    return TicketOut(
        id=t.id,
        number=t.number,
        category=t.category,
        status=t.status,
        channel=t.channel,
        service_day=t.service_day,
        ahead=placed.ahead,
        window=t.window,
        department=t.department,
        recalls=t.recalls,
        estimated_wait_minutes=placed.wait_minutes,
        created_at=as_utc(t.created_at),
        called_at=as_utc(t.called_at),
    )


def job_out(job: PrintJob, *, lease_seconds: int) -> PrintJobOut:
    """A print job."""
    return PrintJobOut(
        id=job.id,
        kind=job.kind,
        printer=job.printer,
        status=job.status,
        document=job.document,
        case_number=job.case_number,
        attempts=job.attempts,
        last_error=job.last_error,
        created_at=as_utc(job.created_at),
        sent_at=as_utc(job.sent_at),
        needs_check=print_jobs.needs_check(job, lease_seconds=lease_seconds),
        printed_at=as_utc(job.printed_at),
    )


def notification_out(notification: Notification) -> NotificationOut:
    """A WeChat notice with its OpenID masked."""
    pending = notification.status is NotificationStatus.PENDING
    return NotificationOut(
        id=notification.id,
        kind=notification.kind,
        subject=notification.subject,
        wechat_openid=mask_openid(notification.wechat_openid) or "",
        text=notification.payload.get("text", ""),
        status=notification.status,
        via=notification.via,
        attempts=notification.attempts,
        next_attempt_at=as_utc(notification.next_attempt_at) if pending else None,
        last_error=notification.last_error,
        created_at=as_utc(notification.created_at),
        sent_at=as_utc(notification.sent_at),
    )
