"""Case progress for its owner only: “办好了没” answered from the backend's one rule (backend.services.case_access).

On WeChat the follower who filed a case is its owner (the OpenID on the case). Everywhere else, and on WeChat for a
case filed elsewhere, the case number needs a second factor: the last four digits of the phone given at filing, or
the 查询码 printed on the 受理回执. The bot asks for it in one question (``progress_form``). An ID number alone gets
a polite refusal that says what to give instead; it is never looked up, and nothing the resident typed is said back
except the case number.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.choices import yes_or_no
from actions.clients.backend import BackendError, BackendUnavailable, backend
from actions.form_launch import FormLaunchingAction
from actions.intake_channel import wechat_openid
from vocabulary.case_numbers import case_number_in, without_case_numbers
from vocabulary.phones import is_mobile_number

MAX_FAILURES = 3
GAVE_UP = "none"
"""``progress_code`` when the resident has no code to give (“不知道”, or three answers without one)."""
_SPOKEN = str.maketrans("零〇一二两三四五六七八九幺０１２３４５６７８９", "0012234567891" + "0123456789")
"""Digits as the voice counter's recogniser writes them (“幺三五八”) and full-width digits, as ASCII digits."""
_SEPARATORS = re.compile(r"[\s,，、.。:：-]+")
_ID_NUMBER_LIKE = re.compile(r"[\dXx*＊]{15,18}")
"""An ID number, whole or masked by the channel (3301**********123X): any long run of digits, X and stars."""
_NO_CODE = ("忘", "不知道", "不记得", "没有", "丢")


def code_in(text: str) -> str | None:
    """The second factor in an answer: 4 digits (the phone's last four), 6 digits (the receipt's 查询码) or a whole
    mobile number (its last four are used); None when there is none (“1 2 3 4” and “幺二三四” count)."""
    rest = _SEPARATORS.sub("", without_case_numbers(text).translate(_SPOKEN))
    for run in re.findall(r"\d+", rest):
        if len(run) in (4, 6):
            return run
        if is_mobile_number(run):
            return run[-4:]
    return None


def asks_by_id_number(tracker: Tracker) -> bool:
    """Whether the resident offered an ID number (typed, spoken, or already masked by the channel)."""
    text = tracker.latest_message.get("text") or ""
    return bool(
        _ID_NUMBER_LIKE.search(text) or "身份证" in text or next(tracker.get_latest_entity_values("id_number"), None)
    )


async def owned_cases(
    dispatcher: CollectingDispatcher, number: str | None, *, code: str | None = None, openid: str | None
) -> list[dict[str, Any]] | None:
    """The asker's own cases from the backend's rule ([] for any refusal, which all read the same); None when the
    backend cannot be asked, after telling the resident so."""
    try:
        return await backend().lookup_cases(number, code=code, wechat_openid=openid)
    except BackendUnavailable:
        dispatcher.utter_message(response="utter_backend_unavailable")
        return None
    except BackendError:
        return []


def report(dispatcher: CollectingDispatcher, case: dict[str, Any]) -> None:
    """A case's item and status, and what is still missing while it waits for materials."""
    dispatcher.utter_message(
        response="utter_progress",
        case_number=case["case_number"],
        item_name=case["item_name"],
        status=case["status_label"],
    )
    if case["missing"] and case["status"] in {"submitted", "needs_correction"}:
        dispatcher.utter_message(response="utter_progress_missing", missing="、".join(case["missing"]))


class ActionCheckProgress(FormLaunchingAction):
    """On “办好了没”: the follower's own cases on WeChat; a case number with its code; else ask for what is missing
    (the case number, then the code in ``progress_form``, after which this action answers)."""

    def name(self) -> str:
        return "action_check_progress"

    async def decide(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[Any]:
        answered = tracker.get_slot("progress_code")
        if answered is not None:  # progress_form is done: look the case up with the code it collected
            number = tracker.get_slot("case_number")
            if answered == GAVE_UP or not number:
                dispatcher.utter_message(response="utter_progress_in_person")
                return [SlotSet("progress_code", None)]
            return [SlotSet("progress_code", None), *await self._look_up(dispatcher, tracker, number, answered)]
        text = tracker.latest_message.get("text") or ""
        entity = next(tracker.get_latest_entity_values("case_number"), None)
        number = case_number_in(text) or case_number_in(str(entity or ""))
        openid = wechat_openid(tracker)
        if number is None:
            return await self._without_number(dispatcher, tracker, openid)
        code = code_in(text)
        if code or openid:
            found = await owned_cases(dispatcher, number, code=code, openid=openid)
            if found is None:
                return []
            if found:
                report(dispatcher, found[0])
                return [SlotSet("case_number", number)]
            if code:
                dispatcher.utter_message(response="utter_progress_none")
                return [SlotSet("case_number", None)]
        # No code yet (or a WeChat follower asking about a case filed elsewhere): one question for it.
        return [SlotSet("case_number", number), SlotSet("form_failures", 0), SlotSet("launch", "check_progress")]

    @staticmethod
    async def _without_number(dispatcher: CollectingDispatcher, tracker: Tracker, openid: str | None) -> list[Any]:
        if openid:
            found = await owned_cases(dispatcher, None, openid=openid)
            if found is None:
                return []
            for case in found[:3]:
                report(dispatcher, case)
            if found:
                return [SlotSet("case_number", found[0]["case_number"])]
        if asks_by_id_number(tracker):
            dispatcher.utter_message(response="utter_progress_not_by_id_number")
        else:
            dispatcher.utter_message(response="utter_ask_case_number")
        return []

    @staticmethod
    async def _look_up(dispatcher: CollectingDispatcher, tracker: Tracker, number: str, code: str) -> list[Any]:
        found = await owned_cases(dispatcher, number, code=code, openid=wechat_openid(tracker))
        if found is None:
            return []
        if not found:  # an unknown case, a wrong code and a locked case all read the same
            dispatcher.utter_message(response="utter_progress_none")
            return [SlotSet("case_number", None)]
        report(dispatcher, found[0])
        return []


class ValidateProgressForm(FormValidationAction):
    """The one question of ``progress_form``: the phone's last four digits or the receipt's 查询码."""

    def name(self) -> str:
        return "validate_progress_form"

    async def validate_progress_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A code; “不知道” ends the form with advice; otherwise a re-ask, and the advice after the third."""
        text = str(value or "")
        events: dict[str, Any] = {}
        if number := case_number_in(text):  # “JJ-20261207-0001，1234”: the number said again, with the code
            events["case_number"] = number
        code = code_in(text)
        if code:
            return {**events, "progress_code": code, "form_failures": 0}
        intent = tracker.latest_message.get("intent", {}).get("name")
        if yes_or_no(intent, text) is False or any(word in text for word in _NO_CODE):
            return {**events, "progress_code": GAVE_UP, "form_failures": 0}
        failures = int(tracker.get_slot("form_failures") or 0) + 1
        if failures >= MAX_FAILURES:
            return {**events, "progress_code": GAVE_UP, "form_failures": 0}
        dispatcher.utter_message(response="utter_invalid_progress_code")
        return {**events, "progress_code": None, "form_failures": failures}
