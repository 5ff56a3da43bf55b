"""Identifying the item, numbered choices, the guide, out-of-scope requests, repeat / go back / fallbacks."""

from __future__ import annotations

from rasa_sdk.executor import CollectingDispatcher

from actions.items import ActionChoose, ActionExplainGuide, ActionIdentifyItem, ActionShowMenu
from actions.navigation import ActionDefaultFallback, ActionGoBack, ActionOutOfScope, ActionRepeat
from tests.actions.conftest import responses, slots_set, tracker

ITEM = {"entity": "item", "value": "residence_permit", "start": 3, "end": 6}


async def test_identified_item_is_introduced_with_next_steps(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyItem().run(dispatcher, tracker(text="我想办居住证", entities=[ITEM]), domain)
    assert responses(dispatcher) == ["utter_item_identified", "utter_item_kind_promised", "utter_next_steps"]
    first = dispatcher.messages[0]
    assert first["item_name"] == "浙江省居住证申领" and first["summary"]
    assert dispatcher.messages[1]["working_days"] == 10
    assert slots_set(events)["offered"][3] == "step:file_case"


async def test_voice_counter_gets_one_question_not_a_list(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionIdentifyItem().run(dispatcher, tracker(entities=[ITEM], slots={"interface": "voice"}), domain)
    assert responses(dispatcher)[-1] == "utter_offer_checklist"
    assert slots_set(events)["proposal"] == "checklist"


async def test_candidates_are_numbered(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    candidates = [
        {"entity": "item_candidate", "value": v} for v in ("minimum_living_allowance", "temporary_assistance")
    ]
    events = await ActionIdentifyItem().run(dispatcher, tracker(entities=candidates), domain)
    assert responses(dispatcher) == ["utter_candidates"]
    assert dispatcher.messages[0]["choices"] == "1. 最低生活保障\n2. 临时救助"
    assert slots_set(events)["offered"] == ["item:minimum_living_allowance", "item:temporary_assistance"]


async def test_menu_department_item_and_step_by_number(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    menu = await ActionShowMenu().run(dispatcher, tracker(intent="greet"), domain)
    assert responses(dispatcher) == ["utter_greet", "utter_menu"]
    offered = slots_set(menu)["offered"]
    department = await ActionChoose().run(dispatcher, tracker(text="第六个", slots={"offered": offered}), domain)
    items = slots_set(department)["offered"]
    assert items == ["item:residence_registration", "item:residence_permit", "item:residence_permit_renewal"]
    chosen = await ActionChoose().run(dispatcher, tracker(text="3", slots={"offered": items}), domain)
    assert slots_set(chosen)["item"] == "residence_permit_renewal" and slots_set(chosen)["launch"] is None
    steps = slots_set(chosen)["offered"]
    file_it = await ActionChoose().run(dispatcher, tracker(text="4", slots={"offered": steps}), domain)
    assert slots_set(file_it)["launch"] == "file_case"
    wrong = CollectingDispatcher()
    await ActionChoose().run(wrong, tracker(text="9", slots={"offered": steps}), domain)
    assert responses(wrong) == ["utter_choice_out_of_range"]


async def test_guide_elements_and_a_question_before_the_item(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    await ActionExplainGuide().run(dispatcher, tracker(intent="ask_fee", slots={"item": "senior_transit_card"}), domain)
    assert responses(dispatcher) == ["utter_guide_fee"] and dispatcher.messages[0]["detail"]
    early = CollectingDispatcher()
    events = await ActionExplainGuide().run(early, tracker(intent="ask_time_limit"), domain)
    assert responses(early) == ["utter_ask_which_item"] and slots_set(events)["pending_question"] == "ask_time_limit"
    later = CollectingDispatcher()
    await ActionIdentifyItem().run(
        later, tracker(entities=[ITEM], slots={"pending_question": "ask_time_limit"}), domain
    )
    assert responses(later)[-1] == "utter_guide_time_limit"


async def test_materials_say_what_the_system_looks_up(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionExplainGuide().run(
        dispatcher, tracker(intent="ask_materials", slots={"item": "birth_registration"}), domain
    )
    assert responses(dispatcher) == ["utter_guide_materials", "utter_guide_looked_up", "utter_offer_checklist"]
    assert "居民身份证" in dispatcher.messages[0]["bring"]
    assert slots_set(events)["proposal"] == "checklist"


async def test_out_of_scope_says_where_to_go(domain) -> None:
    dispatcher = CollectingDispatcher()
    passport = {"entity": "other_service", "value": "exit_entry", "start": 3, "end": 5}
    await ActionOutOfScope().run(dispatcher, tracker(text="我想办护照", entities=[passport]), domain)
    assert responses(dispatcher) == ["utter_out_of_scope"]
    assert dispatcher.messages[0]["service"] == "护照" and "出入境" in dispatcher.messages[0]["where"]
    unknown = CollectingDispatcher()
    await ActionOutOfScope().run(unknown, tracker(text="我想开个网店"), domain)
    assert responses(unknown) == ["utter_out_of_scope_general"]


def _conversation() -> list[dict]:
    return [
        {"event": "bot", "text": "请问您想办什么事项呢？"},
        {"event": "user", "text": "居住证"},
        {"event": "bot", "text": "好的，您要办的是居住证。"},
        {"event": "user", "text": "重复"},
    ]


async def test_repeat_and_go_back_outside_forms(domain) -> None:
    dispatcher = CollectingDispatcher()
    await ActionRepeat().run(dispatcher, tracker(events=_conversation()), domain)
    assert responses(dispatcher) == ["text:好的，您要办的是居住证。"]
    back = CollectingDispatcher()
    events = await ActionGoBack().run(back, tracker(events=_conversation()), domain)
    assert responses(back) == ["text:请问您想办什么事项呢？"]
    assert [e["event"] for e in events] == ["rewind", "rewind"]


async def test_go_back_inside_the_filing_form(domain) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionGoBack().run(
        dispatcher, tracker(active_loop="filing_form", slots={"requested_slot": "phone"}), domain
    )
    assert slots_set(events) == {"id_number": None, "requested_slot": "id_number", "form_failures": 0}
    silent = CollectingDispatcher()
    assert await ActionRepeat().run(silent, tracker(active_loop="filing_form"), domain) == []  # the form re-asks


async def test_second_misunderstanding_in_a_row_hands_over(backend_api, domain) -> None:
    dispatcher = CollectingDispatcher()
    first = await ActionDefaultFallback().run(dispatcher, tracker(text="咕噜"), domain)
    assert responses(dispatcher) == ["utter_default"] and slots_set(first)["fallback_count"] == 1
    second = CollectingDispatcher()
    events = await ActionDefaultFallback().run(second, tracker(text="咕噜", slots={"fallback_count": 1}), domain)
    assert responses(second) == ["utter_handover"] and slots_set(events)["handover"] is True
