"""The centre's documents (`printing.documents`) as ESC/POS bytes: the queue ticket, the acceptance receipt (受理回执),
the 补正 notice, the pickup notice, and the notices of a rejection (不予受理告知) and a withdrawal (撤销告知) with their
reason. `render` takes any document; everything printed is in the document, so rendering asks nobody.

Documents are composed with python-escpos (on its `Dummy` printer, which collects bytes) and Chinese text is sent
as GB18030 in the printer's Chinese mode (`FS &`), which is how Chinese ESC/POS printers take it. Lines are
wrapped by display width (a Chinese character takes two columns). Personal numbers come masked in the document.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from escpos.printer import Dummy

from printing.documents import (
    WECHAT_QR,
    AcceptanceReceipt,
    CorrectionNotice,
    Document,
    PickupNotice,
    QueueTicket,
    RejectionNotice,
    WithdrawalNotice,
)

CENTRE = "骆家庄便民服务中心"
COLUMNS = 48
"""Columns of an 80 mm roll in the standard font (a Chinese character takes two)."""
CHINESE_MODE = b"\x1c&"  # FS &
CHINESE_SIZE = {False: b"\x1c!\x00", True: b"\x1c!\x0c"}  # FS ! n: double width and height for Chinese characters
CENTRE_TIMEZONE = ZoneInfo("Asia/Shanghai")
"""Times are printed in the centre's zone."""
CATEGORY_LABELS = {"A": "综合窗口", "V": "绿色通道"}
REMINDER_LINE = "微信扫码，轮到您之前会提醒您："
"""Above WeChat's code on a ticket: scanning it follows the ticket, so the reminder can be promised."""
PROGRESS_LINE = "扫码查看排队进度："
"""Above the ticket page's code: it shows the place in the queue but can remind nobody."""


def width(text: str) -> int:
    """Display columns of ``text``: two for wide (Chinese) characters, one otherwise."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, columns: int) -> list[str]:
    """Lines of at most ``columns`` display columns, breaking anywhere (Chinese has no spaces to break at)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for ch in paragraph:
            if width(line + ch) > columns:
                lines.append(line)
                line = ""
            line += ch
        lines.append(line)
    return lines


class _Collector(Dummy):
    """python-escpos's byte-collecting printer, also taking bytes it has no command for (GB18030 text, FS codes)."""

    def raw(self, data: bytes) -> None:
        self._raw(data)


class Page:
    """A printed page being composed."""

    def __init__(self) -> None:
        self._printer = _Collector()
        self._printer.hw("INIT")
        self._printer.raw(CHINESE_MODE)

    def text(self, text: str, *, align: str = "left", bold: bool = False, big: bool = False) -> Page:
        self._printer.set(align=align, bold=bold, double_height=big, double_width=big, normal_textsize=not big)
        self._printer.raw(CHINESE_SIZE[big])
        for line in wrap(text, COLUMNS // 2 if big else COLUMNS):
            self._printer.raw(line.encode("gb18030") + b"\n")
        return self

    def rule(self) -> Page:
        return self.text("-" * COLUMNS)

    def rows(self, pairs: Iterable[tuple[str, str]]) -> Page:
        for label, value in pairs:
            self.text(f"{label}：{value}")
        return self

    def numbered(self, entries: Sequence[str]) -> Page:
        for n, entry in enumerate(entries, start=1):
            self.text(f"{n}. {entry}")
        return self

    def qr(self, data: str) -> Page:
        self._printer.set(align="center", normal_textsize=True)
        self._printer.qr(data, native=True, size=6)
        return self

    def finish(self) -> bytes:
        """The document's bytes, ending with a feed and a cut."""
        self._printer.set(align="left", bold=False, normal_textsize=True)
        self._printer.cut()
        return bytes(self._printer.output)


def _header(title: str) -> Page:
    return Page().text(CENTRE, align="center", bold=True).text(title, align="center", bold=True, big=True).rule()


def _local(moment: dt.datetime, timezone: ZoneInfo) -> str:
    return moment.astimezone(timezone).strftime("%Y-%m-%d %H:%M")


def ticket(document: QueueTicket, timezone: ZoneInfo = CENTRE_TIMEZONE) -> bytes:
    """排队取号: number, category, people ahead, and the QR code; only WeChat's code promises a reminder."""
    page = _header("排队取号")
    page.text(document.number, align="center", bold=True, big=True)
    page.text(CATEGORY_LABELS.get(document.category, document.category), align="center")
    page.text(f"您前面还有 {document.ahead} 人", align="center", bold=True)
    page.text(_local(document.issued_at, timezone), align="center")
    scan_line = REMINDER_LINE if document.qr_kind == WECHAT_QR else PROGRESS_LINE
    page.rule().text(scan_line, align="center").qr(document.qr)
    page.text("请留意叫号，过号请到咨询台。", align="center")
    return page.finish()


def acceptance_receipt(document: AcceptanceReceipt, timezone: ZoneInfo = CENTRE_TIMEZONE) -> bytes:
    """受理回执: the case number, the item, materials received, everything missing in one notice, the deadline, and
    the case page's QR code with the 查询码 that goes with the case number to ask about it."""
    page = _header("受理回执")
    page.rows(
        [
            ("办件编号", document.case_number),
            ("办理事项", document.item_name),
            ("申请人", f"{document.resident_name}（{document.resident_id_number}）"),
            ("受理时间", _local(document.accepted_at, timezone)),
        ]
    )
    if document.received:
        page.rule().text("已收材料：", bold=True).numbered(document.received)
    if document.looked_up:
        page.text("系统已核验（无需提交）：", bold=True).numbered(document.looked_up)
    if document.missing:
        page.rule().text("请补齐以下材料（一次告知）：", bold=True).numbered(document.missing)
    page.rule().text(_promise(document), bold=True)
    page.text("微信扫码查看办理进度：", align="center").qr(document.follow_url)
    # The second factor for asking about the case without the QR code (公众号, the counter, the follow page).
    page.text(f"查询码：{document.receipt_code}", align="center", bold=True)
    page.text("查进度时请说办件编号和查询码，请勿告诉他人。", align="center")
    return page.finish()


def correction_notice(document: CorrectionNotice, timezone: ZoneInfo = CENTRE_TIMEZONE) -> bytes:
    """补正告知: the complete list of what is missing, so the resident comes back only once."""
    page = _header("补正材料告知")
    page.rows([("办件编号", document.case_number), ("办理事项", document.item_name)])
    page.rule().text("请一次带齐以下材料：", bold=True).numbered(document.missing)
    page.rule().text(f"告知时间：{_local(document.issued_at, timezone)}").text(f"请带到{CENTRE}综合窗口。")
    return page.finish()


def pickup_notice(document: PickupNotice, timezone: ZoneInfo = CENTRE_TIMEZONE) -> bytes:
    """领取通知: the result is ready at the pickup window."""
    page = _header("领取通知")
    page.rows([("办件编号", document.case_number), ("办理事项", document.item_name)])
    page.rule().text("您的事项已办结，请带本人身份证到出件窗口领取。", bold=True)
    page.text(f"通知时间：{_local(document.issued_at, timezone)}")
    return page.finish()


def rejection_notice(document: RejectionNotice, timezone: ZoneInfo = CENTRE_TIMEZONE) -> bytes:
    """不予受理告知: the decision and the reason staff gave."""
    advice = f"如有疑问，请到{CENTRE}综合窗口咨询。"
    return _decision(document, timezone, "不予受理告知", "经审查，您的申请不予受理。", advice)


def withdrawal_notice(document: WithdrawalNotice, timezone: ZoneInfo = CENTRE_TIMEZONE) -> bytes:
    """撤销告知: the case is withdrawn, and why."""
    return _decision(document, timezone, "撤销告知", "您的申请已撤销。", "如还需要办理，欢迎重新申请。")


def _decision(
    document: RejectionNotice | WithdrawalNotice, timezone: ZoneInfo, title: str, outcome: str, advice: str
) -> bytes:
    page = _header(title)
    page.rows(
        [
            ("办件编号", document.case_number),
            ("办理事项", document.item_name),
            ("申请人", f"{document.resident_name}（{document.resident_id_number}）"),
        ]
    )
    page.rule().text(outcome, bold=True)
    reason = (document.reason or "").strip().rstrip("。.；;，,！! ")
    if reason:
        page.text(f"原因：{reason}。")
    page.rule().text(f"告知时间：{_local(document.issued_at, timezone)}").text(advice)
    return page.finish()


def _promise(document: AcceptanceReceipt) -> str:
    if document.immediate:
        return "即办件：材料齐全当场办结。"
    if document.deadline:
        day = document.deadline
        note = "（节假日安排待公布，以窗口告知为准）" if document.deadline_provisional else ""
        return f"承诺件：{day.year}年{day.month}月{day.day}日前办结{note}。"
    return f"承诺件：受理后{document.working_days}个工作日内办结。"


RENDERERS: dict[str, Callable[..., bytes]] = {
    "ticket": ticket,
    "receipt": acceptance_receipt,
    "correction_notice": correction_notice,
    "pickup_notice": pickup_notice,
    "rejection_notice": rejection_notice,
    "withdrawal_notice": withdrawal_notice,
}
"""The renderer of each kind of document."""


def render(document: Document, timezone: ZoneInfo = CENTRE_TIMEZONE) -> bytes:
    """Any document as ESC/POS bytes, times in ``timezone``."""
    return RENDERERS[document.kind](document, timezone)
