"""Actions that work anywhere: session start, 重复, 返回, 找工作人员, fallbacks, yes/no to a proposal, out of scope."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, SessionStarted, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.choices import offered_values
from actions.clients.backend import BackendError, BackendUnavailable
from actions.filing import filing_slots
from actions.form_launch import FormLaunchingAction
from actions.items import introduce, offer_items
from actions.wording import phrase


def _bot_turn_before(events: list[dict[str, Any]], skip_user_turns: int) -> list[str]:
    """Texts of the bot's messages that came before the last ``skip_user_turns`` user messages."""
    texts: list[str] = []
    seen_users = 0
    for event in reversed(events):
        if event.get("event") == "user":
            if seen_users == skip_user_turns:
                break
            seen_users += 1
        elif event.get("event") == "bot" and seen_users == skip_user_turns and event.get("text"):
            texts.append(event["text"])
    return list(reversed(texts))


class ActionSessionStart(Action):
    """Start a session; the channel's metadata says whether this is the voice counter."""

    def name(self) -> str:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        metadata = tracker.get_slot("session_started_metadata") or {}
        interface = "voice" if metadata.get("interface") == "voice" else "chat"
        return [SessionStarted(), SlotSet("interface", interface), ActionExecuted("action_listen")]


class ActionRepeat(Action):
    """On “重复”: say the last answer again (inside a form, the form asks its question again by itself)."""

    def name(self) -> str:
        return "action_repeat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if tracker.active_loop.get("name"):
            return []
        texts = _bot_turn_before(tracker.events, skip_user_turns=1)
        if not texts:
            dispatcher.utter_message(response="utter_nothing_to_repeat")
        for text in texts:
            dispatcher.utter_message(text=text)
        return []


class ActionGoBack(Action):
    """On “返回” / “上一步”: undo the last answer and ask that question again."""

    def name(self) -> str:
        return "action_go_back"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        loop = tracker.active_loop.get("name")
        if loop == "filing_form":
            order = filing_slots(bool(tracker.get_slot("proxy")))
            requested = tracker.get_slot("requested_slot")
            at = order.index(requested) if requested in order else len(order)
            if at == 0 or requested == "same_resident":  # “还是为王*英办理吗？” comes before every question
                dispatcher.utter_message(response="utter_go_back_start")
                return []
            previous = order[at - 1]
            return [SlotSet(previous, None), SlotSet("requested_slot", previous), SlotSet("form_failures", 0)]
        if loop == "checklist_form":
            state = dict(tracker.get_slot("checklist_state") or {})
            if not state.get("asked"):
                dispatcher.utter_message(response="utter_go_back_start")
                return []
            state["asked"] = state["asked"][:-1]
            return [SlotSet("checklist_state", state)]
        texts = _bot_turn_before(tracker.events, skip_user_turns=2)
        if not texts:
            dispatcher.utter_message(response="utter_go_back_start")
            return []
        for text in texts:
            dispatcher.utter_message(text=text)
        return [UserUtteranceReverted(), UserUtteranceReverted()]


class ActionHandOver(Action):
    """On “找工作人员”, three bad answers, or two misunderstandings in a row: a person takes over."""

    def name(self) -> str:
        return "action_hand_over"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        dispatcher.utter_message(response="utter_handover")
        return [
            SlotSet("handover", True),
            SlotSet("fallback_count", 0),
            SlotSet("form_failures", 0),
            ActiveLoop(None),
            SlotSet("requested_slot", None),
        ]


class ActionDefaultFallback(Action):
    """Not understood: offer the likely items if there are some; the second miss in a row hands over."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        misses = int(tracker.get_slot("fallback_count") or 0) + 1
        if misses >= 2:
            return await ActionHandOver().run(dispatcher, tracker, domain)
        candidates = list(dict.fromkeys(tracker.get_latest_entity_values("item_candidate")))
        if candidates:
            try:
                return [SlotSet("fallback_count", misses), *await offer_items(dispatcher, tracker, candidates)]
            except (BackendError, BackendUnavailable):
                pass
        dispatcher.utter_message(response="utter_default")
        return [SlotSet("fallback_count", misses)]


class ActionAcceptProposal(FormLaunchingAction):
    """On “是” / “好的”: start what the bot proposed (or take the single item offered by voice)."""

    def name(self) -> str:
        return "action_accept_proposal"

    async def decide(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        proposal = tracker.get_slot("proposal")
        if proposal:
            return [SlotSet("launch", proposal), SlotSet("proposal", None), SlotSet("fallback_count", 0)]
        offered = offered_values(tracker.get_slot("offered"), "item")
        if len(offered) == 1:
            try:
                return await introduce(dispatcher, tracker, domain, offered[0])
            except (BackendError, BackendUnavailable):
                dispatcher.utter_message(response="utter_backend_unavailable")
                return []
        dispatcher.utter_message(response="utter_anything_else")
        return []


class ActionDeclineProposal(Action):
    """On “不用” / “不是”: drop the proposal and ask what else."""

    def name(self) -> str:
        return "action_decline_proposal"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        if offered_values(tracker.get_slot("offered"), "item") and not tracker.get_slot("proposal"):
            dispatcher.utter_message(response="utter_none_of_these")
        else:
            dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("proposal", None), SlotSet("offered", []), SlotSet("fallback_count", 0)]


class ActionOutOfScope(Action):
    """Something the centre does not handle: say so, and where to go instead."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list:
        text = tracker.latest_message.get("text", "")
        found = next(
            (e for e in tracker.latest_message.get("entities", []) if e.get("entity") == "other_service"), None
        )
        where = f"utter_where_{found['value']}" if found else ""
        if found and where in domain.get("responses", {}):
            said = text[found.get("start", 0) : found.get("end", 0)] or found["value"]
            dispatcher.utter_message(response="utter_out_of_scope", service=said, where=phrase(domain, where))
        else:
            dispatcher.utter_message(response="utter_out_of_scope_general")
        return [SlotSet("fallback_count", 0), SlotSet("offered", []), SlotSet("proposal", None)]
