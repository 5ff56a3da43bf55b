"""The actions with masked numbers: answers read through the vault, slots masked, the case filed with real numbers."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from actions.clients.backend import BackendClient, use_backend
from actions.config import ActionSettings
from actions.filing import ActionFileCase, ValidateFilingForm
from actions.queue import ActionTakeNumber
from backend.models import Case
from harness.processes import free_port
from security.resident_text import clean
from tests.actions.conftest import responses, slots_set, tracker
from tests.conftest import ELDER_ID, YOUNG_ID, Api, make_id

SENDER = "o-wx-follower-1"
PHONE = "13812345678"


def on_wechat(text: str = "", *, sender: str = SENDER, slots: dict[str, Any] | None = None, **kwargs: Any):
    """A tracker of a WeChat conversation whose latest message is ``text``."""
    user = {"event": "user", "text": text, "input_channel": "wechat"}
    return tracker(text=text, slots=slots, events=[user], sender=sender, active_loop="filing_form", **kwargs)


async def said(api: Api, text: str, *, sender: str = SENDER) -> str:
    """What the WeChat channel hands the dialogue for ``text``: masked, its numbers deposited as the channel does."""
    cleaned = clean(text)
    if cleaned.numbers:
        body = {"channel": "wechat", "sender": sender, "values": [n.value for n in cleaned.numbers]}
        assert (await api.post("/api/v1/vault/deposits", json=body, service="channels")).status == 201
    return cleaned.text


async def validate(slot: str, text: str, slots: dict[str, Any], **kwargs: Any):
    dispatcher = CollectingDispatcher()
    method = getattr(ValidateFilingForm(), f"validate_{slot}")
    result = await method(text, dispatcher, on_wechat(text, slots=slots, **kwargs), {})
    return result, dispatcher


def no_clear_numbers(*things: Any) -> None:
    dumped = json.dumps(things, ensure_ascii=False, default=str)
    for number in (ELDER_ID, YOUNG_ID, PHONE, ELDER_ID.lower()):
        assert number not in dumped


async def test_masked_answers_are_read_through_the_vault(backend_api: Api) -> None:
    text = await said(backend_api, f"身份证{ELDER_ID.lower()}")
    assert ELDER_ID not in text.upper()
    result, dispatcher = await validate("id_number", text, {"item": "senior_transit_card"})
    assert result == {"id_number": "110105********002X", "form_failures": 0}
    phone, dispatcher_2 = await validate("phone", await said(backend_api, "我的电话138 1234 5678"), {})
    assert phone == {"phone": "138****5678", "form_failures": 0}
    no_clear_numbers(result, phone, dispatcher.messages, dispatcher_2.messages)


async def test_the_id_checks_say_what_is_wrong_as_before(backend_api: Api) -> None:
    wrong = {
        "校验": ELDER_ID[:-1] + "1",
        "出生日期": make_id(born="19901399"),
        "地区": make_id(area="990106"),
    }
    for words, number in wrong.items():
        result, dispatcher = await validate(
            "id_number", await said(backend_api, number), {"item": "senior_transit_card"}
        )
        assert result["id_number"] is None and result["form_failures"] == 1
        assert responses(dispatcher) == ["utter_invalid_id_number"] and words in dispatcher.messages[0]["reason"]
        no_clear_numbers(dispatcher.messages)
    short, dispatcher = await validate("id_number", await said(backend_api, ELDER_ID[:-1]), {})
    assert short["id_number"] is None and "17位" in dispatcher.messages[0]["reason"]


async def test_a_number_the_vault_does_not_hold_is_asked_again(backend_api: Api) -> None:
    await said(backend_api, ELDER_ID, sender="someone-else")  # deposited for another conversation
    result, dispatcher = await validate("id_number", "110105********002X", {"form_failures": 1})
    assert result == {"id_number": None}  # not counted as a mistake
    assert responses(dispatcher) == ["utter_number_not_kept"]
    phone, dispatcher = await validate("phone", "138****5678", {})
    assert phone == {"phone": None} and responses(dispatcher) == ["utter_number_not_kept"]


async def test_the_proxy_cannot_be_the_resident_when_masked(backend_api: Api) -> None:
    proxy, _ = await validate("proxy_id_number", await said(backend_api, YOUNG_ID), {})
    assert proxy["proxy_id_number"] == clean(YOUNG_ID).text
    slots = {"item": "longevity_allowance", "proxy_id_number": proxy["proxy_id_number"]}
    same, dispatcher = await validate("id_number", await said(backend_api, YOUNG_ID), slots)
    assert same["id_number"] is None and responses(dispatcher) == ["utter_proxy_is_resident"]


async def test_a_case_is_filed_with_the_real_numbers(backend_api: Api) -> None:
    elder = make_id(born="19400101")
    slots: dict[str, Any] = {
        "item": "longevity_allowance",
        "proxy": True,
        "proxy_name": "李社工",
        "proxy_consent": "yes",
        "person_name": "赵奶奶",
        "community": "骆家庄社区",
    }
    for slot, words in (("proxy_id_number", YOUNG_ID), ("id_number", elder), ("phone", PHONE)):
        result, _ = await validate(slot, await said(backend_api, words), slots)
        assert result[slot] == clean(words).text
        slots[slot] = result[slot]
    dispatcher = CollectingDispatcher()
    events = await ActionFileCase().run(dispatcher, on_wechat("", slots=slots), {})
    number = slots_set(events)["case_number"]
    no_clear_numbers(events, dispatcher.messages)
    async with backend_api.app.ctx.db.read() as session:
        statement = select(Case).where(Case.case_number == number).options(selectinload(Case.resident))
        case = (await session.execute(statement)).scalar_one()
    assert (case.resident.id_number, case.resident.phone, case.proxy_id_number) == (elder, PHONE, YOUNG_ID)


async def test_a_forgotten_number_is_asked_for_again_at_filing(backend_api: Api) -> None:
    slots = {
        "item": "residence_permit",
        "person_name": "王秀英",
        "id_number": "330106********1214",  # never deposited: as if it had expired
        "phone": await said(backend_api, PHONE),
        "community": "骆家庄社区",
    }
    dispatcher = CollectingDispatcher()
    events = await ActionFileCase().run(dispatcher, on_wechat("", slots=slots), {})
    assert responses(dispatcher) == ["utter_numbers_forgotten"]
    changed = slots_set(events)
    assert changed["id_number"] is None and "phone" not in changed and "case_number" not in changed


async def test_priority_numbers_read_the_age_through_the_vault(backend_api: Api) -> None:
    masked = await said(backend_api, ELDER_ID)
    dispatcher = CollectingDispatcher()
    await ActionTakeNumber().run(dispatcher, on_wechat("取号", slots={"id_number": masked}), {})
    assert dispatcher.messages[0]["number"].startswith("V")


async def test_a_backend_down_asks_again_politely() -> None:
    down = BackendClient(ActionSettings(backend_url=f"http://127.0.0.1:{free_port()}", timeout_s=1))
    use_backend(down)
    try:
        for slot, text in (("phone", "138****5678"), ("id_number", "110105********002X"), ("id_number", ELDER_ID)):
            result, dispatcher = await validate(slot, text, {})
            assert result == {slot: None} and responses(dispatcher) == ["utter_backend_unavailable"]
    finally:
        use_backend(None)
        await down.aclose()
