"""The webhook's first line: signatures, the timestamp window, hostile XML; and how answers become WeChat texts."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wechatpy.utils import check_signature as wechatpy_check_signature

from wechat.security import Refused, check_fresh, check_signature, parse_flat_xml, signature
from wechat.text import CONTINUED, TEXT_LIMIT_BYTES, merge, split

TOKEN = "jiujin-test-token"


def _query(token: str = TOKEN, timestamp: str | None = None, nonce: str = "4242") -> dict[str, str]:
    stamp = timestamp or str(int(time.time()))
    return {"signature": signature(token, stamp, nonce), "timestamp": stamp, "nonce": nonce}


def test_our_signature_is_wechats() -> None:
    query = _query()
    wechatpy_check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
    check_signature(TOKEN, query)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"timestamp": "1", "nonce": "2"},
        _query(token="someone-else"),
        {**_query(), "nonce": "tampered"},
        {**_query(), "signature": ""},
    ],
    ids=["nothing", "no signature", "wrong token", "tampered nonce", "empty signature"],
)
def test_forged_or_missing_signatures_are_refused(query: dict[str, str]) -> None:
    with pytest.raises(Refused) as refused:
        check_signature(TOKEN, query)
    assert refused.value.status == 403


def test_an_empty_token_refuses_even_a_matching_signature() -> None:
    with pytest.raises(Refused):
        check_signature("", _query(token=""))


def test_timestamps_outside_the_window_are_replays() -> None:
    now = 1_800_000_000.0
    check_fresh({"timestamp": str(int(now) - 299)}, 300, now)
    for stale in (str(int(now) - 301), str(int(now) + 301), "yesterday", ""):
        with pytest.raises(Refused) as refused:
            check_fresh({"timestamp": stale}, 300, now)
        assert refused.value.status == 403


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><Content>&lol3;</Content></xml>'
)
EXTERNAL_ENTITY = '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Content>&x;</Content></xml>'


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, "<xml><Content>unclosed</xml>", "not xml at all", "<html></html>", ""],
    ids=["entity expansion", "external entity", "malformed", "not xml", "wrong root", "empty"],
)
def test_hostile_and_malformed_xml_is_refused(body: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_flat_xml(body.encode())
    assert refused.value.status == 400


def test_a_wechat_message_parses_flat() -> None:
    body = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content><![CDATA[我想办居住证]]></Content></xml>"
    assert parse_flat_xml(body.encode()) == {"ToUserName": "gh_1", "Content": "我想办居住证"}


def test_a_turn_becomes_one_text_with_numbered_buttons() -> None:
    text = merge(
        [
            {"text": "居住证属于承诺件。"},
            {"text": "接下来您可以：", "buttons": [{"title": "看材料"}, {"title": "取号"}]},
            {"custom": {"ignored": True}},
        ]
    )
    assert text == "居住证属于承诺件。\n\n接下来您可以：\n\n1. 看材料\n2. 取号"


def test_short_texts_are_not_split() -> None:
    assert split("您好") == ["您好"]
    assert split("") == []


@given(st.lists(st.text(alphabet="居住证材料1234\n。、abc", min_size=0, max_size=900), min_size=1, max_size=6))
def test_long_texts_split_within_wechats_limit_and_lose_nothing(paragraphs: list[str]) -> None:
    text = "\n".join(paragraphs)
    pieces = split(text)
    assert all(len(p.encode()) <= TEXT_LIMIT_BYTES for p in pieces)
    rebuilt = "".join(p.removesuffix(CONTINUED) for p in pieces)
    assert rebuilt.replace("\n", "") == text.replace("\n", "")
    assert all(p.endswith(CONTINUED) for p in pieces[:-1])
