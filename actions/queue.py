"""Queue numbers for residents: taking one, following a printed one on WeChat (case progress: actions/progress.py)."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients.backend import BackendError, BackendUnavailable, backend
from actions.intake_channel import intake_channel, wechat_openid
from actions.personal_data import conversation, real_slot
from vocabulary.scenes import parse_ticket
from vocabulary.tickets import NEAR_AHEAD, needs_proof, stated_priority_reason


class ActionTakeNumber(Action):
    """Take a number for the centre with what the bot knows: the resident's ID number (when given) and a reason they
    stated for the 绿色通道 (“我是孕妇”, the counter's 绿色通道 button); the backend decides the category
    (`vocabulary.tickets`), and a resident whose reason must be shown at the window is told so."""

    def name(self) -> str:
        return "action_take_number"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        id_number = await real_slot(tracker, "id_number")  # validated when given; the tracker holds it masked
        key = f"bot-ticket-{tracker.sender_id}-{tracker.latest_message.get('message_id') or len(tracker.events)}"
        try:
            ticket = await backend().take_ticket(
                intake_channel(tracker),
                key[:64],
                wechat_openid(tracker),
                sender=ticket_sender(tracker),
                id_number=id_number,
                priority_reason=stated_priority_reason(tracker.latest_message.get("text")),
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
        if needs_proof(ticket.get("priority_reason")):
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
        # A ticket already NEAR_AHEAD or closer gets no reminder from the backend, so none is promised.
        response = "utter_ticket_followed" if ahead > NEAR_AHEAD else "utter_ticket_followed_soon"
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
