"""Whose details a filing uses: a second filing in one conversation asks “还是为王*英办理吗？” before reusing anything.

The filing form keeps the resident's answers in slots. After a case is filed, or when a filing stopped half-way (the
resident changed their mind, was not eligible, asked for staff), a new filing would otherwise go out silently under
the previous resident's name and ID number. So whatever starts the filing form (``launch: file_case``) also sets
``previous_resident`` (the name, masked) when answers are left over: the form then asks ``same_resident`` first.
"是" keeps them (checked again for the new item), "不是" forgets them all and the form asks afresh.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from vocabulary.masking import mask_name

FILING_SLOTS = ("person_name", "id_number", "phone", "community")
"""The resident's answers in the filing form, in the order they are asked."""
PROXY_SLOTS = ("proxy_name", "proxy_id_number", "proxy_consent")
"""The proxy's answers (a social worker filing for the resident), asked before the resident's."""


def forget_resident() -> dict[str, Any]:
    """Slot values that clear every answer about the resident and the proxy, so the form asks them all again."""
    return dict.fromkeys((*PROXY_SLOTS, *FILING_SLOTS))


def confirm_before_reuse(tracker: Tracker) -> list[dict[str, Any]]:
    """Events for a filing form about to start: ask ``same_resident`` first when a resident's name is left from
    earlier in the conversation; forget other leftovers (an ID number without a name cannot be asked about)."""
    name = tracker.get_slot("person_name")
    if name:
        return [SlotSet("previous_resident", mask_name(str(name))), SlotSet("same_resident", None)]
    leftovers = [slot for slot in (*PROXY_SLOTS, *FILING_SLOTS) if tracker.get_slot(slot) is not None]
    return [
        *(SlotSet(slot, None) for slot in leftovers),
        SlotSet("previous_resident", None),
        SlotSet("same_resident", None),
    ]


def launches_filing(events: list[Any]) -> bool:
    """Whether ``events`` start the filing form (set ``launch`` to ``file_case``)."""
    return any(
        isinstance(e, dict) and e.get("event") == "slot" and e.get("name") == "launch" and e.get("value") == "file_case"
        for e in events
    )
