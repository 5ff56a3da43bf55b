"""What the centre prints, as ESC/POS bytes: the queue ticket, the acceptance receipt (受理回执), the 补正 notice,
the pickup notice, and the notices of a rejection (不予受理告知) and a withdrawal (撤销告知) with their reason.

Documents are composed with python-escpos (on its `Dummy` printer, which collects bytes) and Chinese text is sent
as GB18030 in the printer's Chinese mode (`FS &`), which is how Chinese ESC/POS printers take it. Lines are
wrapped by display width (a Chinese character takes two columns). Personal numbers appear masked, as everywhere.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from escpos.printer import Dummy

CENTRE = "骆家庄便民服务中心"
COLUMNS = 48
"""Columns of an 80 mm roll in the standard font (a Chinese character takes two)."""
CHINESE_MODE = b"\x1c&"  # FS &
CHINESE_SIZE = {False: b"\x1c!\x00", True: b"\x1c!\x0c"}  # FS ! n: double width and height for Chinese characters
CATEGORY_LABELS = {"A": "综合窗口", "V": "绿色通道"}
QR_LINES = {"wechat": "微信扫码，轮到您之前会提醒您：", "page": "扫码查看排队进度："}
"""The line above a ticket's QR code, by the code's kind: only WeChat's code can bring a reminder."""


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


class Document:
    """A printed page being composed."""

    def __init__(self) -> None:
        self._printer = Dummy()
        self._printer.hw("INIT")
        self._printer._raw(CHINESE_MODE)

    def text(self, text: str, *, align: str = "left", bold: bool = False, big: bool = False) -> Document:
        self._printer.set(align=align, bold=bold, double_height=big, double_width=big, normal_textsize=not big)
        self._printer._raw(CHINESE_SIZE[big])
        for line in wrap(text, COLUMNS // 2 if big else COLUMNS):
            self._printer._raw(line.encode("gb18030") + b"\n")
        return self

    def rule(self) -> Document:
        return self.text("-" * COLUMNS)

    def rows(self, pairs: Iterable[tuple[str, str]]) -> Document:
        for label, value in pairs:
            self.text(f"{label}：{value}")
        return self

    def numbered(self, entries: Sequence[str]) -> Document:
        for n, entry in enumerate(entries, start=1):
            self.text(f"{n}. {entry}")
        return self

    def qr(self, data: str) -> Document:
        self._printer.set(align="center", normal_textsize=True)
        self._printer.qr(data, native=True, size=6)
        return self

    def finish(self) -> bytes:
        """The document's bytes, ending with a feed and a cut."""
        self._printer.set(align="left", bold=False, normal_textsize=True)
        self._printer.cut()
        return bytes(self._printer.output)


def _header(document: Document, title: str) -> Document:
    return document.text(CENTRE, align="center", bold=True).text(title, align="center", bold=True, big=True).rule()


def ticket(payload: Mapping[str, Any], page_url: str, now: dt.datetime) -> bytes:
    """The queue ticket: number, category, people ahead, and a QR code: the backend's (``follow_qr``), which WeChat
    made to follow the number there (``follow_qr_kind`` "wechat": a reminder is promised), or the number's page
    (``page_url`` when the payload has no code: it shows the place in the queue, so no reminder is promised)."""
    number, category = str(payload["number"]), str(payload.get("category", "A"))
    code = str(payload.get("follow_qr") or "")
    document = _header(Document(), "排队取号")
    document.text(number, align="center", bold=True, big=True)
    document.text(CATEGORY_LABELS.get(category, category), align="center")
    document.text(f"您前面还有 {int(payload.get('ahead', 0))} 人", align="center", bold=True)
    document.text(now.strftime("%Y-%m-%d %H:%M"), align="center")
    scan_line = QR_LINES["wechat"] if code and payload.get("follow_qr_kind") == "wechat" else QR_LINES["page"]
    document.rule().text(scan_line, align="center").qr(code or page_url)
    document.text("请留意叫号，过号请到咨询台。", align="center")
    return document.finish()


def _local(stamp: Any, now: dt.datetime) -> dt.datetime:
    """An ISO time from the backend (UTC) in the zone of ``now``; ``now`` itself when there is none."""
    if not stamp:
        return now
    moment = dt.datetime.fromisoformat(str(stamp))
    return moment.replace(tzinfo=moment.tzinfo or dt.UTC).astimezone(now.tzinfo)


def acceptance_receipt(case: Mapping[str, Any], follow_url: str, now: dt.datetime) -> bytes:
    """受理回执: the case number, the item, materials received, everything missing in one notice, the deadline, and
    the page's QR code with the 查询码 (``receipt_code``) that goes with the case number to ask about it."""
    document = _header(Document(), "受理回执")
    document.rows(
        [
            ("办件编号", str(case["case_number"])),
            ("办理事项", str(case["item_name"])),
            ("申请人", f"{case['resident_name']}（{case['resident_id_number']}）"),
            ("受理时间", _local(case.get("accepted_at"), now).strftime("%Y-%m-%d %H:%M")),
        ]
    )
    received = [m["name"] for m in case.get("materials", []) if m.get("status") == "received"]
    looked_up = [m["name"] for m in case.get("materials", []) if m.get("status") == "looked_up"]
    if received:
        document.rule().text("已收材料：", bold=True).numbered(received)
    if looked_up:
        document.text("系统已核验（无需提交）：", bold=True).numbered(looked_up)
    missing = list(case.get("missing", []))
    if missing:
        document.rule().text("请补齐以下材料（一次告知）：", bold=True).numbered(missing)
    document.rule().text(_promise(case), bold=True)
    document.text("微信扫码查看办理进度：", align="center").qr(follow_url)
    if case.get("receipt_code"):
        # The second factor for asking about the case without the QR code (公众号, the counter, the follow page).
        document.text(f"查询码：{case['receipt_code']}", align="center", bold=True)
        document.text("查进度时请说办件编号和查询码，请勿告诉他人。", align="center")
    return document.finish()


def correction_notice(case: Mapping[str, Any], now: dt.datetime) -> bytes:
    """补正告知: the complete list of what is missing, so the resident comes back only once."""
    document = _header(Document(), "补正材料告知")
    document.rows([("办件编号", str(case["case_number"])), ("办理事项", str(case["item_name"]))])
    document.rule().text("请一次带齐以下材料：", bold=True).numbered(list(case.get("missing", [])))
    document.rule().text(f"告知时间：{now.strftime('%Y-%m-%d %H:%M')}").text(f"请带到{CENTRE}综合窗口。")
    return document.finish()


def pickup_notice(case: Mapping[str, Any], now: dt.datetime) -> bytes:
    """领取通知: the result is ready at the pickup window."""
    document = _header(Document(), "领取通知")
    document.rows([("办件编号", str(case["case_number"])), ("办理事项", str(case["item_name"]))])
    document.rule().text("您的事项已办结，请带本人身份证到出件窗口领取。", bold=True)
    document.text(f"通知时间：{now.strftime('%Y-%m-%d %H:%M')}")
    return document.finish()


def rejection_notice(case: Mapping[str, Any], now: dt.datetime) -> bytes:
    """不予受理告知: the decision and the reason staff gave (``status_reason``)."""
    return _decision(case, now, "不予受理告知", "经审查，您的申请不予受理。", f"如有疑问，请到{CENTRE}综合窗口咨询。")


def withdrawal_notice(case: Mapping[str, Any], now: dt.datetime) -> bytes:
    """撤销告知: the case is withdrawn, and why (``status_reason``)."""
    return _decision(case, now, "撤销告知", "您的申请已撤销。", "如还需要办理，欢迎重新申请。")


def _decision(case: Mapping[str, Any], now: dt.datetime, title: str, outcome: str, advice: str) -> bytes:
    document = _header(Document(), title)
    document.rows(
        [
            ("办件编号", str(case["case_number"])),
            ("办理事项", str(case["item_name"])),
            ("申请人", f"{case['resident_name']}（{case['resident_id_number']}）"),
        ]
    )
    document.rule().text(outcome, bold=True)
    reason = str(case.get("status_reason") or "").strip().rstrip("。.；;，,！! ")
    if reason:
        document.text(f"原因：{reason}。")
    document.rule().text(f"告知时间：{now.strftime('%Y-%m-%d %H:%M')}").text(advice)
    return document.finish()


def _promise(case: Mapping[str, Any]) -> str:
    if case.get("immediate"):
        return "即办件：材料齐全当场办结。"
    deadline = case.get("deadline")
    if deadline:
        day = dt.date.fromisoformat(str(deadline))
        note = "（节假日安排待公布，以窗口告知为准）" if case.get("deadline_provisional") else ""
        return f"承诺件：{day.year}年{day.month}月{day.day}日前办结{note}。"
    return f"承诺件：受理后{case.get('working_days')}个工作日内办结。"
