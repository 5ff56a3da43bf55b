"""Actions that identify the item and explain its guide: menu, department lists, numbered choices."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.choices import numbered, numbers_in, offer
from actions.clients.backend import BackendError, BackendUnavailable, backend
from actions.form_launch import FormLaunchingAction
from actions.wording import phrase

logger = logging.getLogger(__name__)

DEPARTMENTS = ("医保", "社保", "卫健", "民政", "残联", "公安")
STEPS = ("materials", "checklist", "guide", "file_case", "take_number")
GUIDE_ELEMENTS = {
    "ask_time_limit": ("time_limit", "utter_guide_time_limit"),
    "ask_fee": ("fee_basis", "utter_guide_fee"),
    "ask_where": ("accepting_body", "utter_guide_where"),
    "ask_who_decides": ("deciding_body", "utter_guide_who_decides"),
    "ask_scope": ("scope", "utter_guide_scope"),
}
FORM_LABELS = {"original": "原件", "copy": "复印件", "original_and_copy": "原件和复印件"}


def material_label(domain: dict[str, Any], material: dict[str, Any]) -> str:
    """A material as listed to residents: 居民身份证（原件1份）."""
    return phrase(
        domain,
        "utter_material_label",
        name=material["name"],
        form=FORM_LABELS[material["form"]],
        count=f"{material['count']}份",
    )


def explain(dispatcher: CollectingDispatcher, domain: dict[str, Any], item: dict[str, Any], question: str) -> list:
    """Answer one guide question about ``item``; materials also propose the checklist."""
    if question == "ask_materials":
        always = [m for m in item["materials"] if not m["condition"]]
        bring = [material_label(domain, m) for m in always if not m["looked_up"]]
        looked_up = [m["name"] for m in always if m["looked_up"]]
        dispatcher.utter_message(response="utter_guide_materials", item_name=item["name"], bring=numbered(bring))
        if looked_up:
            dispatcher.utter_message(response="utter_guide_looked_up", looked_up="、".join(looked_up))
        dispatcher.utter_message(response="utter_offer_checklist")
        return [SlotSet("proposal", "checklist")]
    if question == "guide":
        for intent in ("ask_time_limit", "ask_fee", "ask_where"):
            explain(dispatcher, domain, item, intent)
        return []
    field, response = GUIDE_ELEMENTS[question]
    dispatcher.utter_message(response=response, item_name=item["name"], detail=item["guide"][field])
    return []


async def introduce(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], item_id: str) -> list:
    """Say which item this is, answer a question asked before it was known, and offer the next steps."""
    item = await backend().item(item_id)
    dispatcher.utter_message(response="utter_item_identified", item_name=item["name"], summary=item["summary"])
    if item["immediate"]:
        dispatcher.utter_message(response="utter_item_kind_immediate")
    else:
        dispatcher.utter_message(response="utter_item_kind_promised", working_days=item["working_days"])
    events: list[EventType] = [
        SlotSet("item", item_id),
        SlotSet("item_name", item["name"]),
        SlotSet("pending_question", None),
        SlotSet("fallback_count", 0),
    ]
    pending = tracker.get_slot("pending_question")
    if pending:
        return events + explain(dispatcher, domain, item, pending)
    if tracker.get_slot("interface") == "voice":
        dispatcher.utter_message(response="utter_offer_checklist")
        return [*events, SlotSet("proposal", "checklist"), SlotSet("offered", [])]
    labels = [phrase(domain, f"utter_step_{step}") for step in STEPS]
    dispatcher.utter_message(response="utter_next_steps", choices=numbered(labels))
    return [*events, SlotSet("offered", offer("step", STEPS)), SlotSet("proposal", None)]


async def offer_items(dispatcher: CollectingDispatcher, tracker: Tracker, item_ids: list[str]) -> list:
    """Numbered candidates (chat) or one yes/no question about the best one (voice)."""
    items = [await backend().item(item_id) for item_id in item_ids]
    if tracker.get_slot("interface") == "voice":
        dispatcher.utter_message(response="utter_candidates_voice", first=items[0]["name"])
        return [SlotSet("offered", offer("item", item_ids[:1])), SlotSet("proposal", None)]
    dispatcher.utter_message(response="utter_candidates", choices=numbered([i["name"] for i in items]))
    return [SlotSet("offered", offer("item", item_ids)), SlotSet("proposal", None)]


class ActionShowMenu(Action):
    """Greeting (when greeted; a welcome for new WeChat followers) and the numbered department menu."""

    def name(self) -> str:
        return "action_show_menu"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        intent = tracker.latest_message.get("intent", {}).get("name")
        if intent == "greet":
            dispatcher.utter_message(response="utter_greet")
        elif intent == "follow":
            dispatcher.utter_message(response="utter_welcome_follower")
        dispatcher.utter_message(response="utter_menu", choices=numbered(DEPARTMENTS))
        return [SlotSet("offered", offer("department", DEPARTMENTS)), SlotSet("proposal", None)]


async def show_department(dispatcher: CollectingDispatcher, department: str) -> list:
    """The department's items as a numbered list."""
    items = await backend().items(department)
    dispatcher.utter_message(
        response="utter_department_items", department=department, choices=numbered([i["name"] for i in items])
    )
    return [SlotSet("offered", offer("item", [i["id"] for i in items])), SlotSet("proposal", None)]


class ActionShowDepartment(Action):
    """On “医保的事有哪些”: that department's items."""

    def name(self) -> str:
        return "action_show_department"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        department = next(tracker.get_latest_entity_values("department"), None)
        if department not in DEPARTMENTS:
            return await ActionShowMenu().run(dispatcher, tracker, domain)
        try:
            return await show_department(dispatcher, department)
        except (BackendError, BackendUnavailable):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []


class ActionIdentifyItem(Action):
    """After ``request_item``: introduce the resolved item, or offer the candidates."""

    def name(self) -> str:
        return "action_identify_item"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        item_id = next(tracker.get_latest_entity_values("item"), None)
        candidates = list(dict.fromkeys(tracker.get_latest_entity_values("item_candidate")))
        try:
            if item_id:
                return await introduce(dispatcher, tracker, domain, item_id)
            if candidates:
                return await offer_items(dispatcher, tracker, candidates)
        except (BackendError, BackendUnavailable):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []
        dispatcher.utter_message(response="utter_ask_which_item")
        return []


class ActionExplainGuide(Action):
    """要多久 / 收费吗 / 在哪办 / 谁审批 / 谁能办 / 带什么: answered from the item's guide."""

    def name(self) -> str:
        return "action_explain_guide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        question = tracker.latest_message.get("intent", {}).get("name", "ask_materials")
        item_id = next(tracker.get_latest_entity_values("item"), None) or tracker.get_slot("item")
        if not item_id:
            dispatcher.utter_message(response="utter_ask_which_item")
            return [SlotSet("pending_question", question)]
        try:
            item = await backend().item(item_id)
        except (BackendError, BackendUnavailable):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []
        return [
            SlotSet("item", item_id),
            SlotSet("item_name", item["name"]),
            *explain(dispatcher, domain, item, question),
        ]


class ActionChoose(FormLaunchingAction):
    """A numbered reply: pick from whatever the last list offered."""

    def name(self) -> str:
        return "action_choose"

    async def decide(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        offered = tracker.get_slot("offered") or []
        if not offered:
            dispatcher.utter_message(response="utter_nothing_offered")
            return []
        numbers = numbers_in(tracker.latest_message.get("text", ""), tracker.latest_message.get("entities", []))
        if not numbers or not 1 <= numbers[0] <= len(offered):
            dispatcher.utter_message(response="utter_choice_out_of_range", last=len(offered))
            return []
        kind, value = offered[numbers[0] - 1].split(":", 1)
        try:
            if kind == "department":
                return await show_department(dispatcher, value)
            if kind == "item":
                return await introduce(dispatcher, tracker, domain, value)
            if value in {"checklist", "file_case", "take_number"}:
                return [SlotSet("launch", value)]
            item = await backend().item(tracker.get_slot("item"))
            return explain(dispatcher, domain, item, "ask_materials" if value == "materials" else "guide")
        except (BackendError, BackendUnavailable):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []


class ActionNoneOfThese(Action):
    """On “都不是”: forget the offer and ask again in other words."""

    def name(self) -> str:
        return "action_none_of_these"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        dispatcher.utter_message(response="utter_none_of_these")
        return [SlotSet("offered", []), SlotSet("proposal", None)]
