"""Queue numbers for residents: taking one, following a printed one on WeChat (case progress: actions/progress.py)."""

from __future__ import annotations

import datetime as dt
import re

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients.backend import BackendError, BackendUnavailable, backend
from actions.origin import intake_channel, wechat_openid
from actions.personal_data import conversation, real_slot
from backend.identity import age_on
from wechat.scenes import parse_ticket

PRIORITY_AGE = 70
REMINDED_AHEAD = 3
"""The backend tells a follower 快到您了 when a call leaves this many people ahead (its notifications.NEAR_AHEAD):
a ticket already this close gets no reminder, so none is promised."""
_ASKS_FOR_PRIORITY = re.compile(r"绿色通道|优先|孕妇|怀孕|残疾|残障|轮椅")
"""Words of a resident asking for the 绿色通道 when taking a number ("我是孕妇，帮我取个号")."""


class ActionTakeNumber(Action):
    """Take a number for the centre: 绿色通道 (V) for residents of 70 and over when the ID number is known, and for
    whoever asks for it (disabled or pregnant residents show their proof at the window); 综合 (A) otherwise."""

    def name(self) -> str:
        return "action_take_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        id_number = await real_slot(tracker, "id_number")  # validated when given; the tracker holds it masked
        elderly = bool(id_number) and age_on(id_number, dt.date.today()) >= PRIORITY_AGE
        asked = bool(_ASKS_FOR_PRIORITY.search(tracker.latest_message.get("text") or ""))
        category = "V" if elderly or asked else "A"
        key = f"bot-ticket-{tracker.sender_id}-{tracker.latest_message.get('message_id') or len(tracker.events)}"
        try:
            ticket = await backend().take_ticket(
                category, intake_channel(tracker), key[:64], wechat_openid(tracker), sender=ticket_sender(tracker)
            )
        except BackendError as error:
            self._capped(dispatcher, error)
            return [SlotSet("launch", None), SlotSet("proposal", None)]
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return [SlotSet("launch", None)]
        wait = ticket.get("estimated_wait_minutes") or 0
        dispatcher.utter_message(
            response="utter_ticket_taken", number=ticket["number"], ahead=ticket["ahead"], wait=max(wait, 1)
        )
        if asked and not elderly:
            dispatcher.utter_message(response="utter_ticket_priority_proof")
        return [SlotSet("launch", None), SlotSet("proposal", None)]

    @staticmethod
    def _capped(dispatcher: CollectingDispatcher, error: BackendError) -> None:
        """The backend's caps per resident: one waiting number at a time, a few a day."""
        details = error.details if isinstance(error.details, dict) else {}
        if error.code == "ticket_waiting" and details.get("number"):
            dispatcher.utter_message(response="utter_ticket_limit_waiting", number=details["number"])
        elif error.code == "ticket_daily_limit" and details.get("limit"):
            dispatcher.utter_message(response="utter_ticket_limit_daily", limit=details["limit"])
        else:
            dispatcher.utter_message(response="utter_backend_unavailable")


def ticket_sender(tracker: Tracker) -> str:
    """Who takes the number, for the backend's caps: the conversation's channel and sender (a WeChat OpenID, a REST
    sender, a counter's resident session)."""
    channel, sender = conversation(tracker)
    return f"{channel or 'unknown'}:{sender}"


class ActionFollowTicket(Action):
    """A follower scanned a queue ticket's QR code: link the ticket to them, say where it stands and that they will
    be reminded; or that it was already called, is not today's, is followed by someone else, or that the code is
    not one of the centre's (a typed ``/follow_ticket`` with a made-up signature)."""

    def name(self) -> str:
        return "action_follow_ticket"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        openid = wechat_openid(tracker)
        ticket = parse_ticket(next(tracker.get_latest_entity_values("ticket"), None) or "")
        if openid is None:
            dispatcher.utter_message(response="utter_ticket_follow_wechat_only")
            return []
        if ticket is None:
            dispatcher.utter_message(response="utter_ticket_follow_expired")
            return []
        day, number = ticket.service_day, ticket.number
        try:
            followed = await backend().follow_ticket(day.isoformat(), number, openid, ticket.signature)
        except BackendUnavailable:
            dispatcher.utter_message(response="utter_backend_unavailable")
            return []
        except BackendError as error:
            self._refused(dispatcher, number, error)
            return []
        ahead, wait = followed["ahead"], max(followed.get("estimated_wait_minutes") or 0, 1)
        response = "utter_ticket_followed" if ahead > REMINDED_AHEAD else "utter_ticket_followed_soon"
        dispatcher.utter_message(response=response, number=followed["number"], ahead=ahead, wait=wait)
        return []

    @staticmethod
    def _refused(dispatcher: CollectingDispatcher, number: str, error: BackendError) -> None:
        details = error.details if isinstance(error.details, dict) else {}
        if error.code == "ticket_not_waiting" and details.get("status") == "called" and details.get("window"):
            dispatcher.utter_message(response="utter_ticket_follow_called", number=number, window=details["window"])
        elif error.code == "ticket_not_waiting":
            dispatcher.utter_message(response="utter_ticket_follow_finished", number=number)
        elif error.code == "ticket_followed":
            dispatcher.utter_message(response="utter_ticket_follow_taken", number=number)
        elif error.code == "scene_invalid":
            dispatcher.utter_message(response="utter_ticket_follow_invalid")
        else:  # unknown (404) or another day's (ticket_expired)
            dispatcher.utter_message(response="utter_ticket_follow_expired")
