"""The checklist (rules, conditions, materials; chat and voice), filing with re-asks, and the filed case."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.checklist import ActionAskChecklistAnswer, ActionChecklistSummary, ValidateChecklistForm, next_question
from actions.choices import yes_or_no
from actions.filing import ActionFileCase, ValidateFilingForm, clean_name
from actions.progress import ActionCheckProgress
from actions.queue import ActionTakeNumber
from tests.actions.conftest import responses, slots_set, tracker
from tests.conftest import ELDER_ID, YOUNG_ID, make_id


async def _answer(domain: dict, slots: dict[str, Any], text: str, intent: str = "") -> tuple[dict, list[str]]:
    dispatcher = CollectingDispatcher()
    result = await ValidateChecklistForm().validate_checklist_answer(
        text, dispatcher, tracker(text=text, intent=intent, slots=slots, active_loop="checklist_form"), domain
    )
    return result, responses(dispatcher)


async def test_chat_checklist_asks_rule_conditions_then_one_list(backend_api, domain) -> None:
    slots: dict[str, Any] = {"item": "residence_permit", "interface": "chat"}
    asked = []
    for _ in range(12):
        dispatcher = CollectingDispatcher()
        events = await ActionAskChecklistAnswer().run(dispatcher, tracker(slots=slots), domain)
        slots["checklist_state"] = slots_set(events)["checklist_state"]
        asked.append(responses(dispatcher)[0])
        if asked[-1] == "utter_checklist_materials_chat":
            listed = dispatcher.messages[0]["choices"]
            result, said = await _answer(domain, slots, "1 2")
            break
        answer = "是" if len(asked) in (1, 3) else "不是"  # 外地户口: yes; 租房: yes (asked third)
        result, said = await _answer(domain, slots, answer)
        assert said == [] and result["checklist_answer"] is None
        slots["checklist_state"] = result["checklist_state"]
    assert asked[0] == "utter_checklist_condition" and asked[-1] == "utter_checklist_materials_chat"
    assert "居民身份证" in listed and "代办人身份证" not in listed  # not filing for someone else
    assert result["checklist_answer"] == "done"
    slots["checklist_state"] = result["checklist_state"]
    summary = CollectingDispatcher()
    events = await ActionChecklistSummary().run(summary, tracker(slots=slots), domain)
    said = responses(summary)
    assert said[:2] == ["utter_checklist_summary_bring", "utter_checklist_summary_missing"]
    assert said[-1] == "utter_offer_filing" and slots_set(events)["proposal"] == "file_case"
    assert (
        "租" in summary.messages[1]["missing"]
        or "住宿" in summary.messages[1]["missing"]
        or "合同" in summary.messages[1]["missing"]
    )


async def test_failed_residence_rule_ends_with_the_reason(backend_api, domain) -> None:
    slots: dict[str, Any] = {"item": "residence_permit"}
    result, _ = await _answer(domain, slots, "不是", intent="deny")  # not 外地户口
    assert result["checklist_answer"] == "done"
    slots["checklist_state"] = result["checklist_state"]
    summary = CollectingDispatcher()
    await ActionChecklistSummary().run(summary, tracker(slots=slots), domain)
    assert responses(summary) == ["utter_not_eligible", "utter_anything_else"]


async def test_voice_asks_one_material_at_a_time(backend_api) -> None:
    from actions.clients.backend import backend

    item = await backend().item("birth_registration")
    state = {"item": "birth_registration", "asked": [], "answers": {}}
    for rule in item["eligibility"]:
        if rule["kind"] == "residence":
            state["answers"][f"rule:{rule['requires']}"] = True
    for condition in item["conditions"]:
        state["answers"][f"cond:{condition['id']}"] = False
    question = next_question(item, state, "voice")
    assert question is not None and question.kind == "material" and question.text == "居民身份证"
    state["answers"]["mat:id_card"] = True
    assert next_question(item, state, "voice") is None  # ID-only: everything else is looked up


async def test_three_unreadable_answers_hand_over(backend_api, domain) -> None:
    slots: dict[str, Any] = {"item": "residence_permit", "form_failures": 2}
    result, said = await _answer(domain, slots, "那个……让我想想")
    assert said == ["utter_too_many_failures"] and result["filing_outcome"] == "handover"


async def _validate(domain: dict, slot: str, value: str, slots: dict[str, Any]) -> tuple[dict, CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    method = getattr(ValidateFilingForm(), f"validate_{slot}")
    result = await method(value, dispatcher, tracker(text=value, slots=slots, active_loop="filing_form"), domain)
    return result, dispatcher


async def test_filing_answers_are_cleaned_and_bad_ones_reasked(backend_api, domain) -> None:
    assert clean_name("我叫王秀英。") == "王秀英" and clean_name("123") is None
    slots = {"item": "senior_transit_card"}
    ok, _ = await _validate(domain, "id_number", f"身份证 {ELDER_ID.lower()}", slots)
    assert ok == {"id_number": "110105********002X", "form_failures": 0}  # slots hold numbers masked
    bad, said = await _validate(domain, "id_number", "110105194912310021", slots)
    assert bad["id_number"] is None and bad["form_failures"] == 1
    assert responses(said) == ["utter_invalid_id_number"] and "校验" in said.messages[0]["reason"]
    third, said = await _validate(domain, "phone", "12345", {**slots, "form_failures": 2})
    assert third["filing_outcome"] == "handover" and responses(said) == ["utter_too_many_failures"]
    phone, _ = await _validate(domain, "phone", "我的电话138 1234 5678", slots)
    assert phone["phone"] == "138****5678"


async def test_too_young_for_the_elderly_card(backend_api, domain) -> None:
    result, said = await _validate(domain, "id_number", YOUNG_ID, {"item": "elderly_preferential_card"})
    assert result["filing_outcome"] == "not_eligible"
    assert responses(said) == ["utter_not_eligible"] and "60" in said.messages[0]["reason"]


async def test_filed_case_is_in_the_backend_once(backend_api, domain) -> None:
    slots = {
        "item": "residence_permit",
        "person_name": "王秀英",
        "id_number": YOUNG_ID,
        "phone": "13812345678",
        "community": "骆家庄社区",
        "checklist_state": {
            "item": "residence_permit",
            "asked": [],
            "answers": {"rule:non_local_hukou": True, "materials": ["id_card"]},
        },
    }
    first = CollectingDispatcher()
    events = await ActionFileCase().run(first, tracker(slots=slots, sender="chat-resident-1"), domain)
    assert responses(first)[:2] == ["utter_case_filed", "utter_case_filed_promised"]
    number = slots_set(events)["case_number"]
    again = CollectingDispatcher()
    await ActionFileCase().run(again, tracker(slots=slots, sender="chat-resident-1"), domain)
    assert again.messages[0]["case_number"] == number  # a retried filing is the same case
    case = (await backend_api.get(f"/api/v1/cases/{number}")).json
    assert case["channel"] == "chat" and "居民身份证" not in case["missing"]  # typed chat over REST
    listed = (await backend_api.get("/api/v1/cases", params={"id_number": YOUNG_ID})).json
    assert listed["total"] == 1


async def test_proxy_filing_records_the_proxy(backend_api, domain) -> None:
    slots = {
        "item": "longevity_allowance",
        "proxy": True,
        "proxy_name": "李社工",
        "proxy_id_number": YOUNG_ID,
        "proxy_consent": "yes",
        "person_name": "赵奶奶",
        "id_number": make_id(born="19400101"),
        "phone": "13900001111",
        "community": "骆家庄社区",
    }
    dispatcher = CollectingDispatcher()
    events = await ActionFileCase().run(dispatcher, tracker(slots=slots), domain)
    case = (await backend_api.get(f"/api/v1/cases/{slots_set(events)['case_number']}")).json
    assert case["channel"] == "proxy" and case["proxy_name"] == "李社工"
    assert case["consent"] == "pending"  # a yes in the chat: staff confirm the resident's consent at the window
    same_person, _ = await _validate(domain, "id_number", YOUNG_ID, slots)
    assert same_person["id_number"] is None  # the proxy cannot be the resident


async def test_numbers_and_progress(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    await ActionTakeNumber().run(dispatcher, tracker(slots={"id_number": ELDER_ID}, sender="elder"), domain)
    assert responses(dispatcher) == ["utter_ticket_taken"] and dispatcher.messages[0]["number"] == "V001"
    assert dispatcher.messages[0]["wait"] >= 1  # from the backend's estimate, never "0 分钟"
    young = CollectingDispatcher()
    await ActionTakeNumber().run(young, tracker(text="取号", slots={"id_number": YOUNG_ID}, sender="young"), domain)
    assert young.messages[0]["number"] == "A001" and responses(young) == ["utter_ticket_taken"]
    for asker, words in enumerate(("我是孕妇，帮我取个号", "绿色通道取号")):  # the 绿色通道: proof shown at the window
        pregnant = CollectingDispatcher()
        asking = tracker(text=words, slots={"id_number": YOUNG_ID}, sender=f"asker-{asker}")  # one number each
        await ActionTakeNumber().run(pregnant, asking, domain)
        assert pregnant.messages[0]["number"].startswith("V")
        assert responses(pregnant) == ["utter_ticket_taken", "utter_ticket_priority_proof"]
    unknown = CollectingDispatcher()
    await ActionCheckProgress().run(unknown, tracker(text="JJ-20261126-9999 1234"), domain)
    assert responses(unknown) == ["utter_progress_none"]
    ask = CollectingDispatcher()
    await ActionCheckProgress().run(ask, tracker(text="我想查进度"), domain)
    assert responses(ask) == ["utter_ask_case_number"]


@pytest.mark.parametrize(
    ("intent", "text", "expected"),
    [
        ("affirm", "不是", False),  # the model's yes never outweighs a spoken no (consent, a reused identity)
        ("affirm", "不同意", False),
        ("affirm", "没有", False),
        ("affirm", "没错", True),
        ("affirm", "没问题", True),
        ("deny", "不用了", False),
        (None, "是的", True),
        (None, "嗯嗯", True),
        ("chitchat", "今天天气", None),
    ],
)
def test_a_spoken_no_wins_over_the_models_yes(intent: str | None, text: str, expected: bool | None) -> None:
    assert yes_or_no(intent, text) is expected
