"""The queue ticket's QR code as the printer decodes it: the code its document carries, WeChat's (promising a
reminder) or the ticket's page (promising none); a ticket without both is no document."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from devices import receipts
from printing.documents import QueueTicket
from simulators.devices.escpos_decode import EscPosDecoder, QrCode, Text

NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
WECHAT_CODE = "http://weixin.qq.com/q/02AbCdEfGhIjKlMnOpQrStUv"
PAGE = "https://jiujin.example/follow/ticket/2026-11-27/A012"
REMINDER = "微信扫码，轮到您之前会提醒您"
PROGRESS = "扫码查看排队进度"


def _printed(data: bytes) -> tuple[str, list[str]]:
    """The document's text and the data of its QR codes, as a printer reads the bytes."""
    decoder = EscPosDecoder()
    events = decoder.feed(data) + decoder.flush()
    text = "".join(event.text for event in events if isinstance(event, Text))
    return text, [event.data.decode() for event in events if isinstance(event, QrCode)]


TICKET = {
    "issued_at": NOW,
    "number": "A012",
    "category": "A",
    "ahead": 4,
    "service_day": dt.date(2026, 11, 27),
}


@pytest.mark.parametrize(
    ("code", "line", "qr"),
    [
        ({"qr": WECHAT_CODE, "qr_kind": "wechat"}, REMINDER, WECHAT_CODE),
        ({"qr": PAGE, "qr_kind": "page"}, PROGRESS, PAGE),
    ],
    ids=["wechat", "page"],
)
def test_only_wechats_code_promises_a_reminder(code: dict, line: str, qr: str) -> None:
    text, codes = _printed(receipts.render(QueueTicket(**TICKET, **code)))
    assert codes == [qr] and line in text and "A012" in text and "您前面还有 4 人" in text
    assert "2026-11-27 09:30" in text  # when it was taken, in the centre's time
    other = REMINDER if line == PROGRESS else PROGRESS
    assert other not in text


@pytest.mark.parametrize(
    "code",
    [{}, {"qr": WECHAT_CODE}, {"qr": "weixin://not-an-address", "qr_kind": "wechat"}, {"qr": PAGE, "qr_kind": "x"}],
    ids=["no code", "no kind", "not an address", "unknown kind"],
)
def test_a_ticket_without_a_complete_code_is_no_document(code: dict) -> None:
    with pytest.raises(ValidationError):
        QueueTicket(**TICKET, **code)
