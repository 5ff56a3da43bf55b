"""Queue numbers and case progress for residents."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.choices import ID_NUMBER_IN_TEXT
from actions.clients.backend import BackendError, BackendUnavailable, backend
from actions.origin import intake_channel, wechat_openid
from backend.identity import age_on

PRIORITY_AGE = 70
_CASE_NUMBER = re.compile(r"JJ-\d{8}-\d{4}", re.IGNORECASE)


class ActionTakeNumber(Action):
    """Take a number for the centre (绿色通道 V for residents of 70 and over, when the ID number is known)."""

    def name(self) -> str:
        return "action_take_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        id_number = tracker.get_slot("id_number")  # validated by the backend when it was given
        category = "V" if id_number and age_on(id_number, dt.date.today()) >= PRIORITY_AGE else "A"
        key = f"bot-ticket-{tracker.sender_id}-{tracker.latest_message.get('message_id') or len(tracker.events)}"
        try:
            ticket = await backend().take_ticket(category, intake_channel(tracker), key[:64], wechat_openid(tracker))
        except (BackendError, BackendUnavailable):
            dispatcher.utter_message(response="utter_backend_unavailable")
            return [SlotSet("launch", None)]
        wait = ticket.get("estimated_wait_minutes") or 0
        dispatcher.utter_message(
            response="utter_ticket_taken", number=ticket["number"], ahead=ticket["ahead"], wait=max(wait, 1)
        )
        return [SlotSet("launch", None), SlotSet("proposal", None)]


class ActionCheckProgress(Action):
    """On “办好了没”: by case number, or by ID number (the resident's latest cases)."""

    def name(self) -> str:
        return "action_check_progress"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        text = tracker.latest_message.get("text", "")
        number = _CASE_NUMBER.search(text)
        id_number = ID_NUMBER_IN_TEXT.search(text)
        try:
            if number:
                cases = [await backend().case(number.group(0).upper())]
            elif id_number:
                cases = await backend().cases_of(id_number.group(0).upper())
            else:
                dispatcher.utter_message(response="utter_ask_case_number")
                return []
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []
        except BackendError:
            cases = []
        if not cases:
            dispatcher.utter_message(response="utter_progress_none")
            return []
        for case in cases[:3]:
            self._report(dispatcher, case)
        return [SlotSet("case_number", cases[0]["case_number"])]

    @staticmethod
    def _report(dispatcher: CollectingDispatcher, case: dict[str, Any]) -> None:
        dispatcher.utter_message(
            response="utter_progress",
            case_number=case["case_number"],
            item_name=case["item_name"],
            status=case["status_label"],
        )
        if case["missing"] and case["status"] in {"submitted", "needs_correction"}:
            dispatcher.utter_message(response="utter_progress_missing", missing="、".join(case["missing"]))
