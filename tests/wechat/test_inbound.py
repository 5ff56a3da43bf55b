"""What a scan of one of the centre's QR codes asks of the bot: a follower's SCAN is the code's own request; someone
who follows by the code gets "/follow" with it as an entity (the rules welcome them first, then answer it)."""

from __future__ import annotations

import datetime as dt

import pytest
from wechatpy import parse_message

from simulators.wechat.wechat_server import WeChatServer
from vocabulary.scenes import ScannedTicket, parse_ticket, signature_valid, ticket_in_scene, ticket_scene
from wechat.inbound import Inbound, interpret
from wechat.settings import WeChatSettings

SERVER = WeChatServer("http://127.0.0.1:9/unused", WeChatSettings(token="t"))
OPENID = "oInbound_0123456789abcdefghij"
SECRET = b"follow-secret-of-the-test"
DAY = dt.date(2026, 11, 27)
A012 = ticket_scene(SECRET, DAY, "A012")
V105 = ticket_scene(SECRET, DAY, "V105")


async def _event(event: str, key: str) -> Inbound:
    fields = {"Event": event, "EventKey": key, "Ticket": "gQticket"}
    return await interpret(parse_message(SERVER.build_xml(OPENID, "event", **fields)), None)


@pytest.mark.parametrize(
    ("key", "turn"),
    [
        (A012, f'/follow_ticket{{"ticket": "{A012.removeprefix("ticket_")}"}}'),
        (V105, f'/follow_ticket{{"ticket": "{V105.removeprefix("ticket_")}"}}'),
        ("item_residence_permit", '/request_item{"item": "residence_permit"}'),
        ("queue", "/take_number"),
        ("ticket_2026_A012", "/greet"),  # not a ticket of ours
        ("ticket_20261127_A012", "/greet"),  # unsigned: no ticket's code of ours
        ("somewhere_else", "/greet"),
    ],
)
async def test_a_followers_scan_is_what_the_code_asks(key: str, turn: str) -> None:
    inbound = await _event("SCAN", key)
    assert (inbound.text, inbound.from_follower) == (turn, True)


@pytest.mark.parametrize(
    ("key", "turn"),
    [
        (f"qrscene_{A012}", f'/follow{{"ticket": "{A012.removeprefix("ticket_")}"}}'),
        ("qrscene_ticket_20261127_A012", "/follow"),
        ("qrscene_item_residence_permit", '/follow{"item": "residence_permit"}'),
        ("qrscene_queue", '/follow{"number_machine": "queue"}'),
        ("qrscene_somewhere_else", "/follow"),
        ("", "/follow"),
    ],
)
async def test_following_by_a_code_is_a_welcome_with_what_the_code_asks(key: str, turn: str) -> None:
    inbound = await _event("subscribe", key)
    assert (inbound.text, inbound.from_follower) == (turn, True)
    assert inbound.metadata == ({"scene": key.removeprefix("qrscene_")} if key else {})


def test_a_tickets_scene_names_its_day_and_number_signed_within_wechats_limit() -> None:
    assert A012.startswith("ticket_20261127_A012_") and len(ticket_scene(SECRET, DAY, "A1234567")) <= 64
    value = ticket_in_scene(A012)
    assert value == A012.removeprefix("ticket_")
    scanned = parse_ticket(value)
    assert scanned == ScannedTicket(DAY, "A012", A012.rsplit("_", 1)[1])
    assert signature_valid(SECRET, DAY, "A012", scanned.signature)
    assert not signature_valid(b"another secret", DAY, "A012", scanned.signature)
    assert not signature_valid(SECRET, DAY, "A013", scanned.signature)  # a signature names one ticket only
    assert ticket_scene(SECRET, DAY, "A012") == A012  # the same code for a reprint
    signature = scanned.signature
    assert parse_ticket(f"20261332_A012_{signature}") is None and parse_ticket(f"20261127_a012_{signature}") is None
    assert parse_ticket("20261127_A012") is None and parse_ticket(f"20261127_A012_{signature[:-1]}") is None
    assert parse_ticket("") is None and ticket_in_scene("item_residence_permit") is None
