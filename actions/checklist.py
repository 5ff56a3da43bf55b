"""The material checklist: residence rules and conditions first, then which materials the resident has.

Chat gets the materials as one numbered list; the voice counter asks one material at a time. The state
lives in the ``checklist_state`` slot as ``{"item", "asked": [question keys], "answers": {key: answer}}``;
the next question is always derived from the item and the answers so far, so "返回" only has to drop the
last answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.choices import ALL_WORDS, numbered, numbers_in, yes_or_no
from actions.clients.backend import BackendError, BackendUnavailable, backend
from actions.items import material_label

MAX_FAILURES = 3


@dataclass(frozen=True)
class Question:
    """One checklist question: ``key`` identifies it in the state, ``kind`` says how to ask and read it."""

    key: str
    kind: str  # rule | condition | materials | material
    text: str = ""
    options: tuple[str, ...] = ()


def new_state(item_id: str) -> dict[str, Any]:
    """An empty checklist for ``item_id``."""
    return {"item": item_id, "asked": [], "answers": {}}


def conditions_held(state: dict[str, Any]) -> list[str]:
    """Condition ids answered yes."""
    return [key[5:] for key, value in state["answers"].items() if key.startswith("cond:") and value is True]


def residence_answers(state: dict[str, Any]) -> dict[str, bool]:
    """Residence requirements answered (requirement → whether it is met)."""
    return {key[5:]: value for key, value in state["answers"].items() if key.startswith("rule:")}


def received(state: dict[str, Any]) -> list[str]:
    """Material ids the resident has."""
    answers = state["answers"]
    held = list(answers.get("materials") or [])
    held += [key[4:] for key, value in answers.items() if key.startswith("mat:") and value is True]
    return held


def failed_rule(item: dict[str, Any], state: dict[str, Any]) -> str | None:
    """The message of a residence rule the resident does not meet, if any."""
    for rule in item["eligibility"]:
        if rule["kind"] == "residence" and state["answers"].get(f"rule:{rule['requires']}") is False:
            return str(rule["message"])
    return None


def next_question(item: dict[str, Any], state: dict[str, Any], interface: str) -> Question | None:
    """What to ask next, or None when the checklist is complete (or a rule already failed)."""
    answers = state["answers"]
    for rule in item["eligibility"]:
        if rule["kind"] == "residence" and f"rule:{rule['requires']}" not in answers:
            return Question(f"rule:{rule['requires']}", "rule", rule["question"])
    if failed_rule(item, state):
        return None
    for condition in item["conditions"]:
        if f"cond:{condition['id']}" not in answers:
            return Question(f"cond:{condition['id']}", "condition", condition["question"])
    held = set(conditions_held(state))
    needed = [m for m in item["materials"] if not m["looked_up"] and (not m["condition"] or m["condition"] in held)]
    if interface == "voice":
        for material in needed:
            if f"mat:{material['id']}" not in answers:
                return Question(f"mat:{material['id']}", "material", material["name"])
        return None
    if "materials" not in answers and needed:
        return Question("materials", "materials", options=tuple(m["id"] for m in needed))
    return None


def read_answer(question: Question, intent: str | None, text: str, entities: list[dict[str, Any]]) -> Any:
    """The answer to ``question`` in ``text``, or None when it cannot be read."""
    if question.kind != "materials":
        return yes_or_no(intent, text)
    if any(word in text for word in ALL_WORDS):
        return list(question.options)
    numbers = numbers_in(text, entities)
    if numbers and all(1 <= n <= len(question.options) for n in numbers):
        return [question.options[n - 1] for n in numbers]
    if yes_or_no(intent, text) is False:
        return []
    return None


async def _item_and_state(tracker: Tracker) -> tuple[dict[str, Any], dict[str, Any]]:
    item_id = tracker.get_slot("item")
    state = tracker.get_slot("checklist_state") or {}
    if state.get("item") != item_id:
        state = new_state(item_id)
    return await backend().item(item_id), state


class ActionAskChecklistAnswer(Action):
    """Ask the checklist's next question."""

    def name(self) -> str:
        return "action_ask_checklist_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        item, state = await _item_and_state(tracker)
        question = next_question(item, state, tracker.get_slot("interface") or "chat")
        if question is None:
            return [SlotSet("checklist_state", state)]
        if question.kind in {"rule", "condition"}:
            dispatcher.utter_message(response="utter_checklist_condition", question=question.text)
        elif question.kind == "material":
            dispatcher.utter_message(response="utter_checklist_material_voice", material=question.text)
        else:
            by_id = {m["id"]: m for m in item["materials"]}
            labels = [material_label(domain, by_id[option]) for option in question.options]
            dispatcher.utter_message(response="utter_checklist_materials_chat", choices=numbered(labels))
        return [SlotSet("checklist_state", state), SlotSet("launch", None)]


class ValidateChecklistForm(FormValidationAction):
    """Record each answer; the form keeps asking until no question is left."""

    def name(self) -> str:
        return "validate_checklist_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """Nothing more to ask once the checklist is complete."""
        if tracker.get_slot("checklist_answer") == "done":
            return []
        return domain_slots

    async def validate_checklist_answer(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Read the answer to the current question and move on (or ask again)."""
        try:
            item, state = await _item_and_state(tracker)
        except (BackendError, BackendUnavailable):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return {"checklist_answer": "done", "filing_outcome": "handover"}
        interface = tracker.get_slot("interface") or "chat"
        question = next_question(item, state, interface)
        if question is None:
            return {"checklist_answer": "done", "checklist_state": state}
        latest = tracker.latest_message
        answer = read_answer(
            question, latest.get("intent", {}).get("name"), str(value or ""), latest.get("entities", [])
        )
        if answer is None:
            failures = int(tracker.get_slot("form_failures") or 0) + 1
            if failures >= MAX_FAILURES:
                dispatcher.utter_message(response="utter_too_many_failures")
                return {"checklist_answer": "done", "form_failures": 0, "filing_outcome": "handover"}
            dispatcher.utter_message(response="utter_checklist_not_understood")
            return {"checklist_answer": None, "form_failures": failures}
        state = {
            **state,
            "asked": [*state["asked"], question.key],
            "answers": {**state["answers"], question.key: answer},
        }
        done = next_question(item, state, interface) is None
        return {"checklist_answer": "done" if done else None, "checklist_state": state, "form_failures": 0}


class ActionChecklistSummary(Action):
    """The personal list: what to bring, what is missing, what the system looks up; then offer to file."""

    def name(self) -> str:
        return "action_checklist_summary"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        reset = [SlotSet("checklist_answer", None), SlotSet("requested_slot", None)]
        if tracker.get_slot("filing_outcome") == "handover":
            dispatcher.utter_message(response="utter_handover")
            return [*reset, SlotSet("filing_outcome", None), SlotSet("handover", True)]
        try:
            item, state = await _item_and_state(tracker)
            reason = failed_rule(item, state)
            if reason:
                dispatcher.utter_message(response="utter_not_eligible", item_name=item["name"], reason=reason)
                dispatcher.utter_message(response="utter_anything_else")
                return reset
            result = await backend().checklist(item["id"], conditions_held(state), received(state))
        except (BackendError, BackendUnavailable):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return reset
        entries = result["entries"]
        by_id = {m["id"]: m for m in item["materials"]}
        bring = [material_label(domain, by_id[e["id"]]) for e in entries if e["status"] == "received"]
        missing = [material_label(domain, by_id[e["id"]]) for e in entries if e["status"] == "missing"]
        looked_up = [e["name"] for e in entries if e["status"] == "looked_up"]
        if bring:
            dispatcher.utter_message(response="utter_checklist_summary_bring", bring=numbered(bring))
        if missing:
            dispatcher.utter_message(response="utter_checklist_summary_missing", missing=numbered(missing))
        else:
            dispatcher.utter_message(response="utter_checklist_summary_complete")
        if looked_up:
            dispatcher.utter_message(response="utter_checklist_summary_looked_up", looked_up="、".join(looked_up))
        dispatcher.utter_message(response="utter_offer_filing")
        proxy = "proxy" in conditions_held(state)
        return [*reset, SlotSet("checklist_state", state), SlotSet("proposal", "file_case"), SlotSet("proxy", proxy)]
