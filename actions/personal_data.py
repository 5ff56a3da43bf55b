"""The real ID numbers and phones behind the masked forms Rasa's tracker holds.

Rasa's channels mask every ID number and phone a resident types or says (`security.resident_text`) and keep the real
value in the backend's vault, for the conversation (its input channel and sender); the tracker, its slots and the
bot's answers hold the masked forms only. An action that needs a real value asks the vault (`reveal`) and never
returns it in an event; a number it validated is kept in the vault again under its masked form (`keep`), which is
what the slot holds, so filing can find it.

A text or slot still holding a number in clear (a conversation from before masking, a test) is taken as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from rasa_sdk import Tracker

from actions.clients.backend import BackendUnavailable, backend
from vocabulary.masking import MASKED, masked_in

MAX_LOOKUP = 10
"""The vault answers at most this many masked forms at once; a text naming more is read up to them."""


class NumberForgotten(LookupError):
    """The vault does not hold (any more) a number the text names by its masked form: the resident says it again.
    ``forms``: the masked forms it does not hold."""

    def __init__(self, forms: Sequence[str]) -> None:
        super().__init__(f"{len(forms)} number(s) no longer in the vault")
        self.forms = tuple(forms)


def conversation(tracker: Tracker) -> tuple[str, str]:
    """The vault's name of the tracker's conversation: its input channel (as the channel deposited) and sender."""
    return tracker.get_latest_input_channel() or "", tracker.sender_id


async def reveal_all(tracker: Tracker, texts: Sequence[str | None], *, patient: bool = False) -> list[str | None]:
    """``texts`` with each masked form replaced by the number it stands for (one question to the vault for all);
    NumberForgotten when one is not held, BackendUnavailable when the vault cannot be asked (``patient``: after
    retrying while the backend restarts, as filing does)."""
    wanted = list(dict.fromkeys(form for text in texts for form in masked_in(text or "")))[:MAX_LOOKUP]
    if not wanted:
        return list(texts)
    channel, sender = conversation(tracker)
    values = await backend().kept_numbers(channel, sender, wanted, patient=patient)
    if missing := [form for form in wanted if form not in values]:
        raise NumberForgotten(missing)
    return [MASKED.sub(lambda m: values.get(m.group(0), m.group(0)), text) if text else text for text in texts]


async def reveal(tracker: Tracker, text: str) -> str:
    """``text`` with its masked forms replaced by their numbers (see `reveal_all`)."""
    return (await reveal_all(tracker, [text]))[0] or text


async def keep(tracker: Tracker, value: str) -> str:
    """Keep a validated number for the conversation; its masked form, which is what a slot may hold."""
    channel, sender = conversation(tracker)
    return (await backend().keep_numbers(channel, sender, [value]))[0]


async def real_slot(tracker: Tracker, slot: str) -> str | None:
    """The real number behind a slot's masked form; None when the slot is empty or the vault cannot say (the caller
    does without it)."""
    value = tracker.get_slot(slot)
    if not value:
        return None
    try:
        return await reveal(tracker, str(value))
    except (NumberForgotten, BackendUnavailable):
        return None
