"""Request and response bodies of the REST API (pydantic): validation and the OpenAPI schemas in one place."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, RootModel, model_validator
from pydantic_core import PydanticCustomError

from backend.case_status import CaseStatus
from backend.catalog.checklist import Need
from backend.catalog.schema import Department
from backend.id_checks import InvalidIdNumber, validate_id_number, validate_phone
from backend.models import Channel, NotificationKind, NotificationStatus, PrintJobStatus, TicketCategory, TicketStatus
from backend.services.cases import MAX_REASON_LENGTH, NewCase, StatusChange
from backend.services.print_jobs import Outcome, PrintRequest
from backend.services.queue import NewTicket
from printing.documents import Document, DocumentKind
from vocabulary.masking import is_masked
from vocabulary.tickets import PRIORITY_REASONS


def _id_number(value: str) -> str:
    try:
        return validate_id_number(value)
    except InvalidIdNumber as exc:
        raise PydanticCustomError(exc.code, exc.message) from None


def _phone(value: str) -> str:
    try:
        return validate_phone(value)
    except ValueError as exc:
        raise PydanticCustomError("phone_invalid", str(exc)) from None


IdNumber = Annotated[str, Field(max_length=32, examples=["11010519491231002X"]), AfterValidator(_id_number)]
Phone = Annotated[str, Field(max_length=20, examples=["13812345678"]), AfterValidator(_phone)]
Name = Annotated[str, Field(min_length=1, max_length=50)]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
OpenId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PriorityReason = Annotated[str, Field(pattern=f"^({'|'.join(PRIORITY_REASONS)})$", examples=["孕妇"])]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---- requests -------------------------------------------------------------------------------------------


class ResidentIn(_In):
    """The resident the case is for."""

    id_number: IdNumber
    name: Name
    phone: Phone | None = None
    community: Annotated[str, Field(max_length=100)] | None = None


class ProxyIn(_In):
    """Who files on the resident's behalf (代办) and how the resident consented."""

    name: Name
    id_number: IdNumber | None = None
    """The proxy's ID number; required unless ``staff_username`` is set (the centre knows its own social workers,
    and staff accounts hold no ID numbers)."""
    phone: Phone | None = None
    staff_username: Annotated[str, Field(max_length=50)] | None = None
    """Set when the proxy is one of the centre's social workers."""
    consent: Literal["in_person", "sms_code", "signature", "pending"]
    """``pending``: nobody has witnessed the resident's consent yet (a filing through the bot); staff confirm it at
    the window before the case can be accepted."""

    @model_validator(mode="after")
    def _identified(self) -> ProxyIn:
        if self.id_number is None and self.staff_username is None:
            raise PydanticCustomError("proxy_id_required", "代办人需要填写身份证号码。")
        return self


class CaseCreate(_In):
    """File a case (预受理). Send an ``Idempotency-Key`` header to make retries safe."""

    item_id: Slug
    resident: ResidentIn
    channel: Channel
    materials_received: Annotated[list[Slug], Field(max_length=30)] = []
    conditions: Annotated[list[Slug], Field(max_length=10)] = []
    """Catalog condition ids that hold (e.g. ``proxy``); they add conditional materials."""
    answers: Annotated[dict[Slug, bool], Field(max_length=10)] = {}
    """Answers to residence questions, keyed by requirement (``local_hukou``, ``non_local_hukou`` …)."""
    proxy: ProxyIn | None = None
    wechat_openid: OpenId | None = None

    @model_validator(mode="after")
    def _proxy_consistent(self) -> CaseCreate:
        if self.channel is Channel.PROXY and self.proxy is None:
            raise PydanticCustomError("proxy_required", "代办需要填写代办人信息和本人同意方式。")
        if self.proxy is not None and self.proxy.id_number == self.resident.id_number:
            raise PydanticCustomError("proxy_is_resident", "代办人不能是申请人本人。")
        return self

    def command(self) -> NewCase:
        """The case service's command for this body."""
        return NewCase.model_validate(self.model_dump())


class TransitionIn(_In):
    """Move a case to another status."""

    to: CaseStatus
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON_LENGTH)] | None = None
    missing: Annotated[list[Slug], Field(max_length=30)] = []
    """Materials to mark missing (for 待补正: the complete list goes into one notice)."""
    received: Annotated[list[Slug], Field(max_length=30)] = []
    """Materials handed in since filing."""

    def command(self) -> StatusChange:
        """The case service's command for this body."""
        return StatusChange(self.to, self.reason, tuple(self.received), tuple(self.missing))


class EligibilityIn(_In):
    """Pre-check before filing."""

    id_number: IdNumber | None = None
    answers: Annotated[dict[Slug, bool], Field(max_length=10)] = {}


class IdNumberCheckIn(_In):
    """An ID number to check."""

    id_number: IdNumber


class ChecklistIn(_In):
    """Build a personal checklist."""

    conditions: Annotated[list[Slug], Field(max_length=10)] = []
    received: Annotated[list[Slug], Field(max_length=30)] = []


class TicketCreate(_In):
    """Take a queue number."""

    category: TicketCategory = TicketCategory.GENERAL
    channel: Literal[Channel.COUNTER, Channel.WECHAT, Channel.CHAT] = Channel.COUNTER
    wechat_openid: OpenId | None = None
    department: Department | None = None
    """For a department's business: windows serving that department call it first (any window may serve it)."""
    sender: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """The resident's conversation (channel and sender id) when the action server takes the number for a resident:
    it then gets at most one waiting number and a few a day. The number machine and staff send none."""
    id_number: IdNumber | None = None
    """The resident's ID number when the caller knows it: from PRIORITY_AGE on, the ticket is 绿色通道 (V). Only read
    for that, never kept."""
    priority_reason: PriorityReason | None = None
    """A reason the resident stated for the 绿色通道 (孕妇, 残疾, the counter's 绿色通道 button …): the ticket is V, and
    the reason is shown at the window."""

    def command(self) -> NewTicket:
        """The queue service's command for this body."""
        department = self.department.value if self.department else None
        return NewTicket(
            self.category,
            self.channel,
            self.wechat_openid,
            department,
            self.sender,
            id_number=self.id_number,
            priority_reason=self.priority_reason,
        )


class TicketFollowerIn(_In):
    """The follower who scanned a ticket's QR code on WeChat: told when their turn is near."""

    wechat_openid: OpenId
    signature: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z]+$")]
    """The signature the ticket's scene carries (`vocabulary.scenes`): only a ticket whose code the backend made is
    linked."""


PrinterName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class PrintJobCreate(_In):
    """Spool a document for a printer: about ``case_number`` as the case is now, or exactly ``document``."""

    kind: DocumentKind
    printer: PrinterName = "receipt"
    case_number: Annotated[str, Field(max_length=20)] | None = None
    document: Document | None = None
    """A complete document of this kind (`printing.documents`); needed for a ticket, made from the case otherwise."""

    def command(self) -> PrintRequest:
        """The spool's request."""
        return PrintRequest(self.kind, self.printer, self.case_number, self.document)


class PrintClaimIn(_In):
    """A printer worker asks for its next job."""

    printer: PrinterName


class PrintJobUpdate(_In):
    """The printer worker reports the outcome, or staff cancel."""

    status: Literal[PrintJobStatus.PRINTED, PrintJobStatus.QUEUED, PrintJobStatus.CANCELLED]
    error: Annotated[str, Field(max_length=500)] | None = None

    def command(self) -> Outcome:
        """The outcome to record."""
        return Outcome(self.status, self.error)


# ---- responses ------------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """What went wrong: a stable machine ``code`` and a Chinese ``message``."""

    code: str
    message: str
    field: str | None = None
    details: Any = None


class ErrorOut(BaseModel):
    """Every error response."""

    error: ErrorBody


class MaterialOut(BaseModel):
    """One material of an item."""

    id: str
    name: str
    form: str
    form_label: str
    count: int
    looked_up: bool
    condition: str | None
    note: str | None


class ConditionOut(BaseModel):
    """A circumstance that adds materials, with the yes/no question the dialogue asks about it."""

    id: str
    description: str
    question: str


class GuideOut(BaseModel):
    """The six elements of the guide; ``materials`` of the item is the 申请材料目录."""

    scope: str
    accepting_body: str
    deciding_body: str
    time_limit: str
    fee_basis: str


class ItemOut(BaseModel):
    """A service item."""

    id: str
    name: str
    aliases: list[str]
    department: str
    summary: str
    immediate: bool
    working_days: int
    id_only: bool
    fee_yuan: Decimal
    decided_at: str
    guide: GuideOut
    materials: list[MaterialOut]
    conditions: list[ConditionOut]
    """The conditions its materials depend on."""
    eligibility: list[dict[str, Any]]


class ItemMatchOut(BaseModel):
    """A search hit."""

    item: ItemOut
    score: float
    matched: str


class ItemList(RootModel[list[ItemOut]]):
    """Items in catalog order."""


class ItemMatchList(RootModel[list[ItemMatchOut]]):
    """Search hits, best first."""


class ChecklistEntryOut(BaseModel):
    """One line of a personal checklist or of a case's materials."""

    id: str
    name: str
    status: Need


class ChecklistOut(BaseModel):
    """What to bring, what the system looks up, what is missing."""

    item_id: str
    entries: list[ChecklistEntryOut]
    missing: list[str]


class EligibilityOut(BaseModel):
    """Pre-check outcome."""

    eligible: bool | None
    reasons: list[str]
    questions: list[str]
    age: int | None


class IdNumberCheckOut(BaseModel):
    """A valid ID number (normalised) with what it encodes. The number is returned to its sender only."""

    id_number: str
    age: int
    sex: Literal["男", "女"]


class CaseOut(BaseModel):
    """A case as the API shows it: personal numbers are masked."""

    case_number: str
    item_id: str
    item_name: str
    department: str
    status: CaseStatus
    status_label: str
    status_reason: str | None
    channel: Channel
    immediate: bool
    working_days: int
    deadline: dt.date | None
    deadline_provisional: bool
    resident_name: str
    resident_id_number: str
    resident_phone: str | None
    community: str | None
    proxy_name: str | None
    proxy_staff: str | None
    consent: str | None
    materials: list[ChecklistEntryOut]
    missing: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    follow_path: str
    """The signed path of the case's page for the resident (the QR code on the 受理回执)."""
    receipt_code: str
    """The 6-digit 查询码 printed on the 受理回执: with the case number, it lets the resident ask about the case."""


class CaseListOut(BaseModel):
    """A page of cases."""

    total: int
    cases: list[CaseOut]


class TicketOut(BaseModel):
    """A queue ticket; ``ahead`` counts the people served before it."""

    id: int
    number: str
    category: TicketCategory
    status: TicketStatus
    channel: Channel
    service_day: dt.date
    ahead: int
    window: int | None
    department: str | None = None
    recalls: int
    estimated_wait_minutes: int | None = None
    """For a waiting ticket: minutes until it is called, from today's recent service times."""
    priority_reason: str | None = None
    """In the answer to taking a number: why it is 绿色通道, ``age`` (the resident's ID number) or the reason the
    resident stated (to be shown at the window); null otherwise."""
    created_at: dt.datetime
    called_at: dt.datetime | None


class WindowOut(BaseModel):
    """What one window is serving."""

    window: int
    number: str | None


class CounterKeyIn(_In):
    """A credential a counter's screen or microphone presented to the counter service."""

    key: Annotated[str, Field(min_length=1, max_length=200)]


class CounterOut(BaseModel):
    """The active counter a credential opens."""

    counter: str


class CounterSessionIn(_In):
    """A resident's session at a counter that ended (the counter service keeps the sessions; this is the record)."""

    started_at: AwareDatetime
    reason: Literal["done", "served", "idle", "revoked"]
    """办完了, 60 s after a filing or a queue number, 90 s without a turn, or the counter was revoked."""
    turns: Annotated[int, Field(ge=0, le=100_000)]


class TransferIn(_In):
    """Send the window's current number to another window."""

    to: Annotated[int, Field(ge=1, le=99)]


class WindowStateOut(BaseModel):
    """Whether a window is calling."""

    window: int
    paused: bool


class CallingOut(BaseModel):
    window: int
    number: str


class BoardOut(BaseModel):
    """What the hall's board shows."""

    service_day: dt.date
    calling: list[CallingOut]
    latest: CallingOut | None = None
    """The most recent call still being served (None when no window calls anyone)."""
    next: dict[str, list[str]]
    """The next numbers of each category."""
    waiting: dict[str, int]
    paused: list[int]


class HallEventOut(BaseModel):
    """One change in the hall, with the board as it is now (one message of ``GET /queue/events``)."""

    id: int
    kind: Literal["snapshot", "taken", "called", "recalled", "skipped", "transferred", "paused", "resumed"]
    number: str | None
    window: int | None
    board: BoardOut


class QueueStatusOut(BaseModel):
    """The hall at a glance."""

    service_day: dt.date
    waiting: dict[str, int]
    windows: list[WindowOut]


class PrintJobOut(BaseModel):
    """A spooled print job."""

    id: int
    kind: str
    printer: str
    status: PrintJobStatus
    document: dict[str, Any]
    """The complete document to print, as spooled (`printing.documents`: the schema of its ``kind``)."""
    case_number: str | None
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    """When its bytes started going to the printer."""
    needs_check: bool
    """Sent but never confirmed, and its worker gone: check the printer, then reprint (queued) or confirm."""
    printed_at: dt.datetime | None


class PrintJobList(RootModel[list[PrintJobOut]]):
    """Spooled jobs, oldest first."""


class NotificationOut(BaseModel):
    """A WeChat notice to a resident and how its delivery went; the OpenID is masked."""

    id: int
    kind: NotificationKind
    subject: str
    """The case number or ticket number it is about."""
    wechat_openid: str
    text: str
    """What the notice says (as plain text)."""
    status: NotificationStatus
    via: str | None
    """How it went out: ``template`` or ``customer_service``."""
    attempts: int
    next_attempt_at: dt.datetime | None
    """When a pending notice is tried next."""
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


class NotificationList(RootModel[list[NotificationOut]]):
    """WeChat notices, newest first."""


class OpeningPeriodOut(BaseModel):
    """One session of a day, in the centre's local time; ``end`` is excluded."""

    label: Annotated[str, Field(examples=["上午", "下午"])]
    start: Annotated[str, Field(examples=["08:30"])]
    end: Annotated[str, Field(examples=["12:00"])]


class OpeningDayOut(BaseModel):
    """The hours of one weekday."""

    weekday: Annotated[int, Field(ge=1, le=7)]
    """ISO weekday: 1 = Monday … 7 = Sunday."""
    name: str
    open: bool
    sessions: list[OpeningPeriodOut]
    text: str
    """As said to residents: ``08:30–12:00、13:30–17:00`` or ``休息``."""


class ClosureOut(BaseModel):
    """A day the centre is closed (a holiday), and why."""

    date: dt.date
    note: str


class TodayHoursOut(BaseModel):
    """Today's hours (closure days considered), and whether the centre is open right now."""

    date: dt.date
    open: bool
    """True when the centre opens at all today."""
    open_now: bool
    sessions: list[OpeningPeriodOut]
    text: str
    closure_note: str | None


class OpeningHoursOut(BaseModel):
    """The centre's opening hours: the week (Monday first), the closure days from today on, and today."""

    timezone: str
    defaults: bool
    """True while no admin has saved the weekly hours (the centre's usual hours apply)."""
    summary: str
    """The week in one sentence, as said to residents: ``周一至周五 08:30–12:00、13:30–17:00；周六、周日 休息``."""
    week: list[OpeningDayOut]
    closures: list[ClosureOut]
    today: TodayHoursOut


# ---- the personal-data vault (`backend.services.vault`) ----------------------------------------------------


def _masked(value: str) -> str:
    if not is_masked(value):
        raise PydanticCustomError("not_masked", "不是遮盖后的号码。")
    return value


VaultChannel = Annotated[str, Field(pattern=r"^[a-z0-9_]{0,32}$", examples=["wechat"])]
VaultSender = Annotated[str, Field(min_length=1, max_length=128)]
NumberValue = Annotated[str, Field(pattern=r"^[0-9]{10,39}[0-9X]$", examples=["11010519491231002X"])]
MaskedNumber = Annotated[str, Field(max_length=40, examples=["110105********002X"]), AfterValidator(_masked)]


class VaultDepositIn(_In):
    """Numbers a resident typed or said in one conversation (its channel's name and sender id), to keep."""

    channel: VaultChannel
    sender: VaultSender
    values: Annotated[list[NumberValue], Field(min_length=1, max_length=10)]


class VaultDepositOut(BaseModel):
    """The masked forms the numbers go by (in the order given), and until when they are kept."""

    masked: list[str]
    expires_at: dt.datetime


class VaultLookupIn(_In):
    """Masked forms to read back, for the conversation that deposited them."""

    channel: VaultChannel
    sender: VaultSender
    masked: Annotated[list[MaskedNumber], Field(min_length=1, max_length=10)]


class VaultLookupOut(BaseModel):
    """Masked form → number, for those the vault still holds (expired or unknown ones are left out)."""

    values: dict[str, str]


# ---- query parameters -----------------------------------------------------------------------------------


class ItemListQuery(_In):
    """Filter the item list."""

    department: Literal["医保", "社保", "卫健", "民政", "残联", "公安"] | None = None


class ItemSearchQuery(_In):
    """Search items by name or alias."""

    q: Annotated[str, Field(min_length=1, max_length=50)]
    limit: Annotated[int, Field(ge=1, le=25)] = 5


class CaseQuery(_In):
    """Filter the case list (all optional, combined with AND)."""

    id_number: IdNumber | None = None
    phone: Phone | None = None
    status: Annotated[list[CaseStatus], Field(max_length=9)] = []
    department: Literal["医保", "社保", "卫健", "民政", "残联", "公安"] | None = None
    item_id: Slug | None = None
    channel: Channel | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class TicketQuery(_In):
    """Which day's ticket (default: today)."""

    day: dt.date | None = None


class PrintJobQuery(_In):
    """Filter the spool."""

    status: PrintJobStatus | None = None
    printer: PrinterName | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100


class NotificationQuery(_In):
    """Filter the WeChat notices."""

    status: NotificationStatus | None = None
    subject: Annotated[str, Field(min_length=1, max_length=20, examples=["JJ-20261126-0001", "A003"])] | None = None
    """A case number or a ticket number."""
    limit: Annotated[int, Field(ge=1, le=500)] = 100
