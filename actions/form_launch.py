"""Actions that may start a form report it through the ``launch`` slot, and say so (null) when they do not.

Whatever starts the filing form also makes it ask before reusing a resident's details left from earlier in the
conversation (`actions.resident`), so no launcher can forget to.
"""

from __future__ import annotations

import abc
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.resident import confirm_before_reuse, launches_filing


def with_launch(events: list[Any]) -> list[Any]:
    """``events`` plus ``launch: null`` unless they already set ``launch`` (rules rely on it being set)."""
    if any(isinstance(e, dict) and e.get("event") == "slot" and e.get("name") == "launch" for e in events):
        return events
    return [*events, SlotSet("launch", None)]


class FormLaunchingAction(Action, abc.ABC):
    """An action whose outcome may be to start a form; subclasses implement ``decide``."""

    @abc.abstractmethod
    def name(self) -> str:
        """Abstract, so rasa-sdk does not register this base class."""

    @abc.abstractmethod
    async def decide(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[Any]:
        """The action's events (``launch`` may be among them)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[Any]:
        """``decide``, with ``launch`` always set (and, starting a filing, the question before any reuse)."""
        events = with_launch(await self.decide(dispatcher, tracker, domain))
        return [*events, *confirm_before_reuse(tracker)] if launches_filing(events) else events
