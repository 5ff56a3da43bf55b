"""The queue ticket's QR code: the code the backend put in the job (WeChat's, promising a reminder; or the ticket's
page, promising none), else the page at FOLLOW_URL, as the printer decodes it."""

from __future__ import annotations

import datetime as dt

import pytest

from devices import receipts
from devices.escpos_decode import EscPosDecoder, QrCode, Text

NOW = dt.datetime(2026, 11, 27, 9, 30)
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


@pytest.mark.parametrize(
    ("code", "line", "qr"),
    [
        ({"follow_qr": WECHAT_CODE, "follow_qr_kind": "wechat"}, REMINDER, WECHAT_CODE),
        ({"follow_qr": PAGE, "follow_qr_kind": "page"}, PROGRESS, PAGE),
        ({}, PROGRESS, PAGE),  # spooled before the backend made codes: the page at the worker's FOLLOW_URL
        ({"follow_qr": WECHAT_CODE}, PROGRESS, WECHAT_CODE),  # of no known kind: no promise
    ],
    ids=["wechat", "page", "no code", "no kind"],
)
def test_only_wechats_code_promises_a_reminder(code: dict, line: str, qr: str) -> None:
    payload = {"number": "A012", "category": "A", "ahead": 4, "service_day": "2026-11-27"} | code
    text, codes = _printed(receipts.ticket(payload, PAGE, NOW))
    assert codes == [qr] and line in text and "A012" in text and "您前面还有 4 人" in text
    other = REMINDER if line == PROGRESS else PROGRESS
    assert other not in text
