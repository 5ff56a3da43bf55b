"""The backend's tables (SQLAlchemy 2 declarative). Migrations in `backend/migrations` mirror this file."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from backend.case_status import CaseStatus
from backend.catalog.checklist import Need


def utcnow() -> dt.datetime:
    """Timezone-aware now; every timestamp is stored in UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns; they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints the same on every database."""

    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}  # noqa: RUF012 (SQLAlchemy API)


Base.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """Store enum values (not names) as VARCHAR with a CHECK constraint: portable and readable in SQL."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Channel(enum.StrEnum):
    """How a case or ticket reached the centre."""

    WECHAT = "wechat"
    """A WeChat follower (the Official Account)."""
    CHAT = "chat"
    """Typed chat over Rasa's REST channel (a web chat, `make chat`)."""
    COUNTER = "counter"
    """At the centre: the voice counter, the number machine, the front desk."""
    PROXY = "proxy"
    """A social worker filing on a resident's behalf (代办)."""


class TicketCategory(enum.StrEnum):
    """综合窗口 (A) and 绿色通道 (V: ≥70, disabled, pregnant)."""

    GENERAL = "A"
    PRIORITY = "V"


class TicketStatus(enum.StrEnum):
    """Life of a queue ticket."""

    WAITING = "waiting"
    CALLED = "called"
    SERVED = "served"
    SKIPPED = "skipped"


class PrintJobStatus(enum.StrEnum):
    """Life of a print job in the spool."""

    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    CANCELLED = "cancelled"


class NotificationKind(enum.StrEnum):
    """What a WeChat notice tells the resident; the values name the templates (``wechat.settings.TemplateIds``)."""

    CASE_ACCEPTED = "case_accepted"
    CORRECTION_NEEDED = "correction_needed"
    READY_FOR_PICKUP = "ready_for_pickup"
    QUEUE_NEAR = "queue_near"
    CASE_STATUS = "case_status"
    """办件状态变更: every other status change of a case (办理中, 已出件, 已送达, 不予受理, 撤销)."""


class NotificationStatus(enum.StrEnum):
    """Life of a WeChat notice: pending until sent, failed when every attempt was used (kept for staff)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class StaffRole(enum.StrEnum):
    """Console roles."""

    FRONT_DESK = "front_desk"
    DEPARTMENT = "department"
    SOCIAL_WORKER = "social_worker"
    ADMIN = "admin"


class Counter(Base):
    """Named monotonic counters (case numbers per day, queue numbers per day and category)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Resident(Base):
    """A resident, identified by the ID number."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(11), index=True)
    community: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cases: Mapped[list[Case]] = relationship(back_populates="resident")


class Case(Base):
    """One application for one item (办件)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_number: Mapped[str] = mapped_column(String(20), unique=True)
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    department: Mapped[str] = mapped_column(String(8), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus, "case_status"), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    immediate: Mapped[bool] = mapped_column(Boolean)
    working_days: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    proxy_name: Mapped[str | None] = mapped_column(String(50))
    proxy_id_number: Mapped[str | None] = mapped_column(String(18))
    proxy_phone: Mapped[str | None] = mapped_column(String(11))
    proxy_staff: Mapped[str | None] = mapped_column(String(50))
    """Username of the social worker who filed for the resident (代办)."""
    consent: Mapped[str | None] = mapped_column(String(24))
    """How the resident consented to proxy filing: in_person, sms_code, signature; ``pending`` for a filing from the
    bot, until staff confirm it at the window (no acceptance before)."""
    consent_confirmed_by: Mapped[str | None] = mapped_column(String(64))
    """Who confirmed the resident's consent: the staff member at the window, or the social worker who filed with the
    resident's code or signature."""
    consent_confirmed_at: Mapped[dt.datetime | None]
    wechat_openid: Mapped[str | None] = mapped_column(String(64), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    accepted_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]

    resident: Mapped[Resident] = relationship(back_populates="cases", lazy="joined")
    materials: Mapped[list[CaseMaterial]] = relationship(
        back_populates="case", lazy="selectin", order_by="CaseMaterial.position", cascade="all, delete-orphan"
    )


class CaseMaterial(Base):
    """One material of a case's checklist, copied from the catalog when the case was filed."""

    __tablename__ = "case_materials"
    __table_args__ = (UniqueConstraint("case_id", "material_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    material_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[Need] = mapped_column(_enum(Need, "material_status"))

    case: Mapped[Case] = relationship(back_populates="materials")


class QueueTicket(Base):
    """A queue number; (service_day, category, seq) is unique, so no number is issued twice in a day."""

    __tablename__ = "queue_tickets"
    __table_args__ = (
        UniqueConstraint("service_day", "category", "seq"),
        UniqueConstraint("call_key", name="uq_queue_tickets_call_key"),
        Index("ix_queue_tickets_service_day_sender_hash", "service_day", "sender_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_day: Mapped[dt.date] = mapped_column(Date, index=True)
    category: Mapped[TicketCategory] = mapped_column(_enum(TicketCategory, "ticket_category"))
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(8))
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    status: Mapped[TicketStatus] = mapped_column(_enum(TicketStatus, "ticket_status"), index=True)
    window: Mapped[int | None] = mapped_column(Integer)
    assigned_window: Mapped[int | None] = mapped_column(Integer)
    """Set when a window transferred the ticket: that window calls it before anyone else."""
    department: Mapped[str | None] = mapped_column(String(8))
    """The department of the business, when known: windows serving it call it first."""
    recalls: Mapped[int] = mapped_column(Integer, default=0)
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    sender_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the resident's conversation that took it (the action server's sender), for the caps per resident;
    None for the number machine and staff."""
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    call_key: Mapped[str | None] = mapped_column(String(64))
    """The Idempotency-Key of the call-next that called it: a retried call gets this ticket, not the next one."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    called_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class HallEvent(Base):
    """One change in the hall (a number taken, called, recalled, skipped, transferred; a window paused or resumed),
    written in the change's own transaction: the board page, the LED board and the announcements follow these."""

    __tablename__ = "queue_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_day: Mapped[dt.date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[str | None] = mapped_column(String(8))
    window: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServiceWindow(Base):
    """A service window's state; a window without a row is open."""

    __tablename__ = "service_windows"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    paused: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PrintJob(Base):
    """A document waiting for, being printed on, or printed by a printer (the spool)."""

    __tablename__ = "print_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    printer: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[PrintJobStatus] = mapped_column(_enum(PrintJobStatus, "print_job_status"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The complete document to print (`printing.documents`, its ``kind`` the same as the job's), as JSON."""
    case_number: Mapped[str | None] = mapped_column(ForeignKey("cases.case_number"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("queue_tickets.id"))
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    """Names the event a notice printed for a case change reports, so that event is never spooled twice (staff's own
    jobs have none)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    """When the worker started sending the job's bytes: from then on the printer may have printed it."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    printed_at: Mapped[dt.datetime | None]


class Notification(Base):
    """A WeChat notice to a resident, written in the transaction of the change it reports; the notifier sends it.

    ``payload`` holds the whole notice (kind, template fields, plain text), so sending needs nothing else;
    ``dedupe_key`` makes a notice about one event unique, whatever retries or replays happen.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NotificationKind] = mapped_column(_enum(NotificationKind, "notification_kind"))
    wechat_openid: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(20), index=True)
    """The case number, or the ticket number, the notice is about."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[NotificationStatus] = mapped_column(_enum(NotificationStatus, "notification_status"), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    """When a pending notice is due; while a sender holds it, the end of that sender's lease."""
    last_error: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str | None] = mapped_column(String(24))
    """How it went out: ``template`` or ``customer_service``."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class StaffUser(Base):
    """A staff account of the console."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    department: Mapped[str | None] = mapped_column(String(8))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    """Wrong passwords in a row; reset by a successful login."""
    locked_until: Mapped[dt.datetime | None] = mapped_column()
    """Set after too many wrong passwords: no login (not even with the right password) until then."""
    last_login_at: Mapped[dt.datetime | None] = mapped_column()


class SignInThrottle(Base):
    """Failed sign-ins to the console from one client address, across accounts: after a few, each further try from
    that address waits (`backend.services.sign_in_throttle`)."""

    __tablename__ = "sign_in_throttle"

    address: Mapped[str] = mapped_column(String(45), primary_key=True)
    """The client's IP address (IPv6 at most 45 characters)."""
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    blocked_until: Mapped[dt.datetime | None]
    """No sign-in from this address is tried before then."""


class StaffSession(Base):
    """A signed-in console session. The cookie holds a random token; only its SHA-256 is stored, so a copy of the
    database signs nobody in."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Sent back with every form of this session (synchronizer token)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who changed what, when; written in the same transaction as the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str] = mapped_column(String(24))
    entity_id: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class VisitStatus(enum.StrEnum):
    """Life of a social worker's planned home visit (走访)."""

    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


class Visit(Base):
    """A home visit a social worker plans to a resident who cannot come to the centre (代办, 零次跑)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_username: Mapped[str] = mapped_column(String(50), index=True)
    """The social worker who visits (and files for the resident as their proxy)."""
    resident_name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(11))
    community: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[VisitStatus] = mapped_column(_enum(VisitStatus, "visit_status"))
    created_by: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VisitFiling(Base):
    """A filing for a resident started on a visit: the request waiting for the resident's consent (a code sent by
    SMS), and once filed, the case it became. Only the code's salted hash is kept, and only until it is used."""

    __tablename__ = "visit_filings"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    staff_username: Mapped[str] = mapped_column(String(50))
    """Who started the filing (the proxy is the visit's social worker)."""
    item_id: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The case to file once the resident has consented (`backend.services.cases.NewCase` as JSON); emptied once the
    case is filed."""
    staging_key: Mapped[str | None] = mapped_column(String(32))
    """The photos taken for it wait under this key until the case exists."""
    consent: Mapped[str] = mapped_column(String(24))
    phone: Mapped[str | None] = mapped_column(String(11))
    """Where the code went (the resident's phone)."""
    code_hash: Mapped[str | None] = mapped_column(String(128))
    code_expires_at: Mapped[dt.datetime | None]
    code_sent_at: Mapped[dt.datetime | None]
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Wrong codes typed for the current code."""
    code_sends: Mapped[int] = mapped_column(Integer, default=0)
    verified_at: Mapped[dt.datetime | None]
    """When the resident's consent was confirmed (the code matched, or a signature photo was taken)."""
    case_number: Mapped[str | None] = mapped_column(ForeignKey("cases.case_number"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CaseAttachment(Base):
    """A photo of a case's material, or of the resident's signature (``material_id`` = ``signature``): re-encoded
    without metadata and stored as ``<uploads>/<case number>/<stored_name>``."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    material_id: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(24))
    size: Mapped[int] = mapped_column(Integer)
    """Bytes of the stored (re-encoded) file."""
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CatalogEdit(Base):
    """One change of an item's material list (申请材料目录) made by an admin; rows are only ever added (the history).
    The effective catalog is ``items.yml`` with each item's latest change applied (`backend.catalog.store`)."""

    __tablename__ = "catalog_edits"
    __table_args__ = (UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    """1 for the item's first change, then 2, 3 …: two admins saving on top of the same version cannot both win."""
    actor: Mapped[str] = mapped_column(String(50))
    note: Mapped[str] = mapped_column(Text)
    """Why the admin made the change (required)."""
    before: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """The whole material list before the change, each material as the catalog schema dumps it."""
    after: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    restored_from: Mapped[int | None] = mapped_column(Integer)
    """For a restore, the id of the change whose list was brought back (0: the list in ``items.yml``)."""
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OpeningDay(Base):
    """The centre's hours on one weekday: a morning and an afternoon session (either may be absent). No rows at all
    means the defaults of `backend.services.opening_hours`."""

    __tablename__ = "opening_hours"

    weekday: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """ISO weekday: 1 = Monday … 7 = Sunday."""
    is_open: Mapped[bool] = mapped_column(Boolean)
    morning_start: Mapped[dt.time | None] = mapped_column(Time)
    morning_end: Mapped[dt.time | None] = mapped_column(Time)
    afternoon_start: Mapped[dt.time | None] = mapped_column(Time)
    afternoon_end: Mapped[dt.time | None] = mapped_column(Time)
    updated_by: Mapped[str] = mapped_column(String(50))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ClosureDay(Base):
    """A day the centre is closed whatever the weekly hours say (a holiday), with a note saying why."""

    __tablename__ = "closure_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    note: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CounterDevice(Base):
    """A voice counter (screen and microphone) allowed to use ``/kiosk``: ``bin/jiujin kiosk add NAME``.

    Its credential is not stored: it is an HMAC of the counters' server secret over the name and ``generation``
    (`backend.services.counter_devices`), so ``bin/jiujin kiosk url`` can print it again. Revoking and adding the
    counter again moves to the next generation, so an old credential stays dead."""

    __tablename__ = "counter_devices"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class ResidentSession(Base):
    """One resident's use of a counter, recorded when it ends: when, how long, how it ended. Nothing the resident
    said is kept here (the conversation lives in Rasa under a sender id made for this session only)."""

    __tablename__ = "counter_resident_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    counter: Mapped[str] = mapped_column(String(40), index=True)
    started_at: Mapped[dt.datetime] = mapped_column()
    ended_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    end_reason: Mapped[str] = mapped_column(String(16))
    """``done`` (办完了), ``served`` (a filing or a ticket, then the pause), ``idle``, ``revoked``."""
    turns: Mapped[int] = mapped_column(Integer, default=0)


class VaultEntry(Base):
    """A number a resident typed or said (an ID number, a phone), kept for the actions while Rasa's tracker holds only
    its masked form (`security.resident_text`). Found by its conversation and masked form; gone after ``expires_at``
    (`backend.services.vault`)."""

    __tablename__ = "personal_data_vault"
    __table_args__ = (UniqueConstraint("conversation_hash", "masked"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the channel and the sender: the conversation's id is not kept (a WeChat OpenID is personal too)."""
    masked: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
