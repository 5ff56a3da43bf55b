"""The one cleaning of resident text (`security.resident_text`) and the channels' use of it: no typed intent, no
number in clear, the real numbers deposited in a real backend's vault (or the text masked all the same)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wechatpy import parse_message

from bot.channels.resident_text import ResidentText, VaultSettings, http_depositor
from harness.processes import backend_process, free_port
from security.resident_text import ID_NUMBER, PHONE, clean, without_command_prefix
from security.tokens import bearer_headers
from tests.conftest import ELDER_ID, YOUNG_ID
from vocabulary.masking import is_masked, masked_form, masked_in
from vocabulary.scenes import QUEUE
from wechat.inbound import interpret, menu_click, qr_scene
from wechat.menu import TAKE_NUMBER_KEY

TYPED_INTENTS = [
    '/follow_ticket{"ticket": "20261127_A012"}',
    "/file_case",
    "／file_case",
    "   /file_case",
    "\u3000／／greet",
    "\u200b/restart",
    "\t/ask_human",
]


@pytest.mark.parametrize("typed", TYPED_INTENTS)
def test_no_resident_text_starts_like_an_intent(typed: str) -> None:
    cleaned = clean(typed).text
    assert not cleaned.strip().startswith(("/", "／")), cleaned
    assert cleaned.lstrip("\u200b").startswith(("follow_ticket", "file_case", "greet", "restart", "ask_human"))


def test_text_of_nothing_but_slashes_becomes_a_question_mark() -> None:
    assert without_command_prefix(" / ／ ") == "？"
    assert without_command_prefix("") == ""
    assert without_command_prefix("我想办居住证/签注") == "我想办居住证/签注"  # only a leading one


def test_id_numbers_and_phones_are_masked_wherever_they_are() -> None:
    text = f"我叫王秀英，身份证{ELDER_ID.lower()}，电话138 1234 5678，备用+86-139-0000-1111"
    cleaned = clean(text)
    assert cleaned.text == "我叫王秀英，身份证110105********002X，电话138****5678，备用+86139****1111"
    assert [(n.kind, n.value, n.masked) for n in cleaned.numbers] == [
        (ID_NUMBER, ELDER_ID, "110105********002X"),
        (PHONE, "13812345678", "138****5678"),
        (PHONE, "13900001111", "139****1111"),
    ]


@pytest.mark.parametrize(
    ("said", "masked"),
    [
        ("330106 19900307 1214", "330106********1214"),  # spaced as printed on the card
        (YOUNG_ID[:-1], YOUNG_ID[:6] + "*******" + YOUNG_ID[-5:-1]),  # one digit short: still masked
        ("110105194912310021", "110105********0021"),  # a wrong check digit is masked too
        ("622202123456789012345", "622202***********2345"),  # a run too long to be anything we know
        ("１３８１２３４５６７８", "138****5678"),  # full-width digits
        ("13812345678 330106199003071214", "138****5678 330106********1214"),
    ],
)
def test_every_near_number_is_masked(said: str, masked: str) -> None:
    assert clean(said).text == masked


@pytest.mark.parametrize(
    "kept",
    ["JJ-20261207-0001", "A012", "1 3 5", "2026-12-07", "查询码 123456", "20261127_A012", "幺三八", "第12号窗口"],
)
def test_what_is_not_a_personal_number_stays(kept: str) -> None:
    assert clean(kept).text == kept and clean(kept).numbers == ()


def test_masking_twice_changes_nothing() -> None:
    once = clean(f"{ELDER_ID} 13812345678").text
    assert clean(once).text == once and clean(once).numbers == ()
    assert masked_in(once) == ["110105********002X", "138****5678"]
    assert all(is_masked(form) for form in masked_in(once)) and not is_masked(ELDER_ID)
    assert masked_form("13812345678") == "138****5678"


def _wechat(xml_body: str) -> object:
    return parse_message(
        f"<xml><ToUserName>gh_1</ToUserName><FromUserName>o-1</FromUserName><CreateTime>1</CreateTime>{xml_body}</xml>"
    )


async def test_wechat_words_never_become_intents_but_its_own_messages_do() -> None:
    typed = _wechat('<MsgType>text</MsgType><Content>／follow_ticket{"ticket": "x"}</Content><MsgId>1</MsgId>')
    assert (await interpret(typed, None)).text == 'follow_ticket{"ticket": "x"}'
    voice = _wechat(
        "<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition>/file_case</Recognition>"
        "<MsgId>2</MsgId>"
    )
    assert (await interpret(voice, None)).text == "file_case"

    async def recognize(_: str) -> str:
        return " /take_number"

    unrecognised = _wechat("<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><MsgId>3</MsgId>")
    assert (await interpret(unrecognised, recognize)).text == "take_number"
    # The channel's own messages stay intents: a menu click, a scan of the number machine's code.
    assert menu_click(TAKE_NUMBER_KEY).text == "/take_number"
    assert qr_scene(QUEUE).text == "/take_number"


@pytest.fixture(scope="module")
def backend_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real backend process (SQLite); the test run's secrets folder holds its tokens."""
    folder: Path = tmp_path_factory.mktemp("vault-backend")
    with backend_process(f"sqlite:///{folder / 'jiujin.db'}", free_port(), folder / "backend.log") as url:
        yield url


def _lookup(backend: str, channel: str, sender: str, masked: list[str], service: str = "actions") -> httpx.Response:
    body = {"channel": channel, "sender": sender, "masked": masked}
    return httpx.post(f"{backend}/api/v1/vault/lookups", json=body, headers=bearer_headers(service), timeout=10)


async def test_the_channel_deposits_what_it_masks(backend_url: str) -> None:
    cleaner = ResidentText("rest", http_depositor(VaultSettings(backend_url=backend_url, budget_s=5)), budget_s=5)
    text = await cleaner.clean("counter-7f3a", f" /身份证{ELDER_ID}，电话13812345678")
    assert text == "身份证110105********002X，电话138****5678"
    found = _lookup(backend_url, "rest", "counter-7f3a", ["110105********002X", "138****5678"])
    assert found.json() == {"values": {"110105********002X": ELDER_ID, "138****5678": "13812345678"}}
    assert _lookup(backend_url, "wechat", "counter-7f3a", ["138****5678"]).json() == {"values": {}}
    assert _lookup(backend_url, "rest", "counter-7f3a", ["138****5678"], service="channels").status_code == 403
    assert await cleaner.clean("counter-7f3a", None) is None


async def test_without_the_backend_the_text_is_masked_all_the_same(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    down = ResidentText("rest", http_depositor(VaultSettings(backend_url=f"http://127.0.0.1:{free_port()}")))
    assert await down.clean("s-1", f"身份证{YOUNG_ID}") == "身份证330106********" + YOUNG_ID[-4:]

    async def never(*_: object) -> None:
        await asyncio.Event().wait()

    slow = ResidentText("wechat", never, budget_s=0.05)
    assert await slow.clean("o-1", "电话13812345678") == "电话138****5678"
    logged = caplog.text
    assert "not kept in the vault" in logged
    assert YOUNG_ID not in logged and "13812345678" not in logged and "o-1" not in logged
