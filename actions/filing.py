"""Filing a case (预受理): the form for the resident's data (and the proxy's), then the case in the backend.

Every bad answer gets a friendly re-ask; the third bad answer in the form hands over to staff. The ID number
is checked by the backend (checksum, date, area) and the item's age rule is checked as soon as it is known.

The tracker holds ID numbers and phones masked (`actions.personal_data`): the answers are read with the real
numbers from the backend's vault, the slots keep the masked forms, and the case is filed with the real numbers,
which never go into an event. A number the vault no longer holds is asked for again, without counting as a mistake.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.checklist import conditions_held, received, residence_answers
from actions.choices import ID_NUMBER_IN_TEXT, NO_WORDS, yes_or_no
from actions.clients.backend import BackendError, BackendUnavailable, backend
from actions.form_launch import FormLaunchingAction
from actions.intake_channel import intake_channel, wechat_openid
from actions.personal_data import NumberForgotten, keep, reveal, reveal_all
from actions.resident import FILING_SLOTS, PROXY_SLOTS, forget_resident
from vocabulary.phones import MOBILE_NUMBER

MAX_FAILURES = 3
_NAME_PREFIX = re.compile(r"^(我叫|我是|我的名字是|名字是|名字叫|姓名是|姓名|叫|他叫|她叫|申请人是|居民叫)")
_NAME = re.compile(r"^[\u4e00-\u9fff·]{2,20}$")
_PHONE = re.compile(rf"(?<!\d){MOBILE_NUMBER.pattern}(?!\d)")
_PUNCTUATION = re.compile(r"[\s，。,.！!？?：:]+")


def filing_slots(proxy: bool) -> tuple[str, ...]:
    """The questions of the filing form in order (the proxy's first when filing for someone)."""
    return (PROXY_SLOTS if proxy else ()) + FILING_SLOTS


def clean_name(text: str) -> str | None:
    """The name in an answer like “我叫王秀英。”; None unless 2–20 Chinese characters remain."""
    name = _NAME_PREFIX.sub("", _PUNCTUATION.sub("", text or ""))
    return name if _NAME.fullmatch(name) else None


class ValidateFilingForm(FormValidationAction):
    """Validate each answer; count failures; stop early for ineligibility, missing consent or handover."""

    def name(self) -> str:
        return "validate_filing_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """All questions, proxy's first; none once the form has to stop. With answers left from earlier in the
        conversation (``previous_resident``), only "还是为王*英办理吗？" until it is answered: nothing left over is
        validated, reused or filed before that."""
        if tracker.get_slot("filing_outcome"):
            return []
        questions = list(filing_slots(bool(tracker.get_slot("proxy"))))
        if not tracker.get_slot("previous_resident"):
            return questions
        if tracker.get_slot("same_resident") not in {"yes", "no"}:  # unanswered, or an answer still to validate
            return ["same_resident"]
        return ["same_resident", *questions]

    def _reject(
        self, slot: str, tracker: Tracker, dispatcher: CollectingDispatcher, response: str, **values: Any
    ) -> dict[str, Any]:
        failures = int(tracker.get_slot("form_failures") or 0) + 1
        if failures >= MAX_FAILURES:
            dispatcher.utter_message(response="utter_too_many_failures")
            return {slot: None, "form_failures": 0, "filing_outcome": "handover"}
        dispatcher.utter_message(response=response, **values)
        return {slot: None, "form_failures": failures}

    @staticmethod
    def _ask_again(slot: str, dispatcher: CollectingDispatcher, response: str) -> dict[str, Any]:
        """The same question again, not counted as a mistake: the number was not kept, or the backend is down."""
        dispatcher.utter_message(response=response)
        return {slot: None}

    async def _check_id(
        self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> tuple[tuple[str, str] | None, dict[str, Any] | None]:
        """((valid number, its masked form kept in the vault), None) or (None, slot events for a rejection)."""
        try:
            text = await reveal(tracker, str(value or ""))
            found = ID_NUMBER_IN_TEXT.search(re.sub(r"\s", "", text))
            raw = found.group(0) if found else text
            try:
                checked = await backend().check_id_number(raw)
            except BackendError as exc:
                return None, self._reject(slot, tracker, dispatcher, "utter_invalid_id_number", reason=exc.message)
            return (checked["id_number"], await keep(tracker, checked["id_number"])), None
        except NumberForgotten:
            return None, self._ask_again(slot, dispatcher, "utter_number_not_kept")
        except BackendUnavailable:
            return None, self._ask_again(slot, dispatcher, "utter_backend_unavailable")

    def _name(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        """A name (2–20 Chinese characters once "我叫…" is taken off), or a re-ask."""
        name = clean_name(str(value or ""))
        if not name:
            return self._reject(slot, tracker, dispatcher, "utter_invalid_person_name")
        return {slot: name, "form_failures": 0}

    async def validate_same_resident(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """“还是为王*英办理吗？”: yes keeps the earlier answers (the ID number checked again, for this item's age rule);
        no forgets every answer about the resident and the proxy, so each is asked afresh. A “不” anywhere is a no,
        whatever the intent says: reusing someone's details is the one answer that must not be guessed."""
        text = str(value or "")
        said_no = any(word in text for word in NO_WORDS)
        answer = False if said_no else yes_or_no(tracker.latest_message.get("intent", {}).get("name"), text)
        if answer is None:
            return self._reject("same_resident", tracker, dispatcher, "utter_invalid_yes_no")
        if not answer:
            return {**forget_resident(), "same_resident": "no", "form_failures": 0}
        kept: dict[str, Any] = {"same_resident": "yes", "form_failures": 0}
        if tracker.get_slot("id_number"):
            kept |= await self.validate_id_number(tracker.get_slot("id_number"), dispatcher, tracker, domain)
        return kept

    async def validate_proxy_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The proxy's name."""
        return self._name("proxy_name", value, dispatcher, tracker)

    async def validate_proxy_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The proxy's ID number."""
        checked, rejection = await self._check_id("proxy_id_number", value, dispatcher, tracker)
        return rejection or {"proxy_id_number": checked[1] if checked else None, "form_failures": 0}

    async def validate_proxy_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The resident's consent, confirmed by the proxy."""
        if value == "yes" and tracker.get_slot("requested_slot") != "proxy_consent":
            # Given before: a form started again (after a failed filing) re-validates its answers; do not ask twice.
            return {"proxy_consent": "yes", "form_failures": 0}
        answer = yes_or_no(tracker.latest_message.get("intent", {}).get("name"), str(value or ""))
        if answer is None:
            return self._reject("proxy_consent", tracker, dispatcher, "utter_invalid_yes_no")
        if not answer:
            dispatcher.utter_message(response="utter_proxy_no_consent")
            return {"proxy_consent": "no", "filing_outcome": "no_consent"}
        dispatcher.utter_message(response="utter_proxy_ready")
        return {"proxy_consent": "yes", "form_failures": 0}

    async def validate_person_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The resident's name."""
        return self._name("person_name", value, dispatcher, tracker)

    async def validate_id_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The resident's ID number; the item's age rule is checked right away."""
        checked, rejection = await self._check_id("id_number", value, dispatcher, tracker)
        if rejection or not checked:
            return rejection or {"id_number": None}
        number, masked = checked
        if tracker.get_slot("proxy_id_number") in {number, masked}:
            return self._reject("id_number", tracker, dispatcher, "utter_proxy_is_resident")
        item_id = tracker.get_slot("item")
        state = tracker.get_slot("checklist_state") or {}
        answers = residence_answers(state) if state.get("item") == item_id else {}
        result = await backend().eligibility(item_id, number, answers)
        if result["eligible"] is False:
            item = await backend().item(item_id)
            dispatcher.utter_message(
                response="utter_not_eligible", item_name=item["name"], reason="".join(result["reasons"])
            )
            return {"id_number": masked, "filing_outcome": "not_eligible"}
        return {"id_number": masked, "form_failures": 0}

    async def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An 11-digit mobile number."""
        try:
            found = _PHONE.search(re.sub(r"[\s-]", "", await reveal(tracker, str(value or ""))))
            if not found:
                return self._reject("phone", tracker, dispatcher, "utter_invalid_phone")
            return {"phone": await keep(tracker, found.group(0)), "form_failures": 0}
        except NumberForgotten:
            return self._ask_again("phone", dispatcher, "utter_number_not_kept")
        except BackendUnavailable:
            return self._ask_again("phone", dispatcher, "utter_backend_unavailable")

    async def validate_community(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The community the resident lives in."""
        community = _PUNCTUATION.sub("", str(value or "")).removeprefix("住在").removeprefix("我住")
        if not 2 <= len(community) <= 50:
            return self._reject("community", tracker, dispatcher, "utter_invalid_community")
        return {"community": community, "form_failures": 0}


class ActionStartFiling(FormLaunchingAction):
    """On “我要申请”: start the filing form for the current item (or ask which item first)."""

    def name(self) -> str:
        return "action_start_filing"

    async def decide(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        item_id = next(tracker.get_latest_entity_values("item"), None) or tracker.get_slot("item")
        if not item_id:
            dispatcher.utter_message(response="utter_ask_which_item")
            return [SlotSet("pending_question", "file_case")]
        return [SlotSet("item", item_id), SlotSet("launch", "file_case")]


class ActionStartProxy(FormLaunchingAction):
    """A social worker files for a resident: the proxy's data and the resident's consent come first."""

    def name(self) -> str:
        return "action_start_proxy"

    async def decide(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        item_id = next(tracker.get_latest_entity_values("item"), None) or tracker.get_slot("item")
        if not item_id:
            dispatcher.utter_message(response="utter_proxy_started")
            return [SlotSet("proxy", True), SlotSet("pending_question", "file_case")]
        return [SlotSet("proxy", True), SlotSet("item", item_id), SlotSet("launch", "file_case")]


def idempotency_key(tracker: Tracker, item_id: str, id_number: str) -> str:
    """One case per conversation, item, resident and day, however often the request is retried."""
    raw = f"{tracker.sender_id}|{item_id}|{id_number}|{dt.date.today().isoformat()}"
    return "bot-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


NUMBER_SLOTS = ("proxy_id_number", "id_number", "phone")
"""The slots that hold numbers (masked): the case gets the real ones from the vault."""
_FILED_NUMBERS = (("resident", "id_number"), ("resident", "phone"), ("proxy", "id_number"))


async def with_real_numbers(tracker: Tracker, body: dict[str, Any]) -> dict[str, Any]:
    """The filing ``body`` with the real numbers behind its masked ones (one question to the vault); they go to the
    backend only, never into an event. NumberForgotten, BackendUnavailable as `actions.personal_data.reveal_all`."""
    fields = [(body.get(part) or {}, name) for part, name in _FILED_NUMBERS]
    # Patient: the filing itself is retried while the backend restarts, so the numbers it needs must be too.
    values = await reveal_all(tracker, [fields_of.get(name) for fields_of, name in fields], patient=True)
    for (fields_of, name), value in zip(fields, values, strict=True):
        if name in fields_of:
            fields_of[name] = value
    return body


class ActionFileCase(Action):
    """After the form: file the case, or act on why the form stopped."""

    def name(self) -> str:
        return "action_file_case"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list:
        done = [
            SlotSet("filing_outcome", None),
            SlotSet("launch", None),
            SlotSet("requested_slot", None),
            SlotSet("same_resident", None),
            SlotSet("previous_resident", None),
        ]
        outcome = tracker.get_slot("filing_outcome")
        if outcome == "handover":
            dispatcher.utter_message(response="utter_handover")
            return [*done, SlotSet("handover", True)]
        if outcome:
            dispatcher.utter_message(response="utter_anything_else")
            return [*done, SlotSet("id_number", None), SlotSet("proxy_consent", None)]
        item_id = tracker.get_slot("item")
        try:
            body = await with_real_numbers(tracker, self._body(tracker, item_id))
            case = await backend().file_case(body, idempotency_key(tracker, item_id, body["resident"]["id_number"]))
        except NumberForgotten as forgotten:
            # Only the numbers the vault lost are asked for again (on "我要申请"); every other answer stays.
            dispatcher.utter_message(response="utter_numbers_forgotten")
            lost = [s for s in NUMBER_SLOTS if any(f in str(tracker.get_slot(s) or "") for f in forgotten.forms)]
            return [*done, *(SlotSet(slot, None) for slot in lost)]
        except BackendUnavailable:
            # The client retried for write_retry_s. The answers stay in their slots, so asking to file again
            # files with them under the same idempotency key (no second case if this one went through after all).
            dispatcher.utter_message(response="utter_backend_unavailable")
            return done
        except BackendError as exc:
            dispatcher.utter_message(response="utter_case_not_filed", reason=exc.message)
            return done
        dispatcher.utter_message(response="utter_case_filed", case_number=case["case_number"])
        if case["immediate"]:
            dispatcher.utter_message(response="utter_case_filed_immediate")
        else:
            deadline = dt.date.fromisoformat(case["deadline"])
            dispatcher.utter_message(
                response="utter_case_filed_promised",
                working_days=case["working_days"],
                deadline=f"{deadline.month}月{deadline.day}日",
            )
        if case["missing"]:
            dispatcher.utter_message(response="utter_case_filed_missing", missing="、".join(case["missing"]))
        dispatcher.utter_message(response="utter_offer_number")
        # The resident's consent was for this case: a filing for another item asks the proxy again.
        return [
            *done,
            SlotSet("case_number", case["case_number"]),
            SlotSet("proposal", "take_number"),
            SlotSet("proxy_consent", None),
        ]

    @staticmethod
    def _body(tracker: Tracker, item_id: str) -> dict[str, Any]:
        state = tracker.get_slot("checklist_state") or {}
        same_item = state.get("item") == item_id
        proxy = bool(tracker.get_slot("proxy"))
        body: dict[str, Any] = {
            "item_id": item_id,
            "resident": {
                "name": tracker.get_slot("person_name"),
                "id_number": tracker.get_slot("id_number"),
                "phone": tracker.get_slot("phone"),
                "community": tracker.get_slot("community"),
            },
            "channel": intake_channel(tracker, proxy=proxy),
            "materials_received": received(state) if same_item else [],
            "conditions": [c for c in conditions_held(state) if c != "proxy"] if same_item else [],
            "answers": residence_answers(state) if same_item else {},
        }
        if openid := wechat_openid(tracker):
            body["wechat_openid"] = openid
        if proxy:
            body["proxy"] = {
                "name": tracker.get_slot("proxy_name"),
                "id_number": tracker.get_slot("proxy_id_number"),
                # A yes in a chat is not the resident's consent: staff confirm it at the window before acceptance.
                "consent": "pending",
            }
        return body
