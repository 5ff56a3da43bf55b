"""The Rasa NLU component that turns the model's 25 item intents and the names in the text into one item.

It runs after DIET and before the FallbackClassifier. The dialogue sees a single intent, ``request_item``,
with an ``item`` entity (the item id) when the item is clear, or ``item_candidate`` entities to offer as
numbered choices when it is not; questions about an item ("老年卡要多少钱") keep their own intent and
get the ``item`` entity too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.names import CATALOG_PATH, load_item_names
from bot.nlu.resolver import ITEM_INTENT_PREFIX, ItemResolution, Resolution, Thresholds

logger = logging.getLogger(__name__)

REQUEST_ITEM = "request_item"
RESOLUTION_KEY = "item_resolution"
# Intents that ask something about an item: they keep their meaning and only gain the item entity.
ITEM_QUESTIONS = frozenset(
    {
        "ask_time_limit",
        "ask_fee",
        "ask_where",
        "ask_who_decides",
        "ask_scope",
        "ask_materials",
        "file_case",
        "check_progress",
        "browse_department",
    }
)
LOW_CONFIDENCE = 0.5


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ItemResolver(GraphComponent):
    """Resolve the catalog item of each message (see ``bot.nlu.resolver``)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """``catalog_path`` defaults to the project's catalog; thresholds as in ``Thresholds``."""
        defaults = Thresholds()
        return {
            "catalog_path": None,
            "accept": defaults.accept,
            "margin": defaults.margin,
            "candidate": defaults.candidate,
            "out_of_scope": defaults.out_of_scope,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        path = Path(config.get("catalog_path") or CATALOG_PATH)
        thresholds = Thresholds(
            accept=config["accept"],
            margin=config["margin"],
            candidate=config["candidate"],
            out_of_scope=config["out_of_scope"],
        )
        self.resolution = ItemResolution(load_item_names(path), thresholds)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ItemResolver":
        """Build the resolver from the catalog file."""
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        """Annotate each message with its item resolution."""
        for message in messages:
            self._annotate(message)
        return messages

    def _annotate(self, message: Message) -> None:
        text = message.get(TEXT) or ""
        intent = message.get(INTENT) or {}
        ranking = [
            (r.get("name", ""), float(r.get("confidence") or 0.0)) for r in message.get(INTENT_RANKING_KEY) or []
        ]
        if not ranking and intent.get("name"):
            ranking = [(intent["name"], float(intent.get("confidence") or 0.0))]
        resolution = self.resolution.resolve(text, ranking)
        top_name, top_conf = ranking[0] if ranking else ("", 0.0)
        named = resolution.source in {"name", "homophone"}
        asks_about_item = top_name in ITEM_QUESTIONS and top_conf >= LOW_CONFIDENCE
        wants_item = top_name.startswith(ITEM_INTENT_PREFIX) or (named and not asks_about_item)
        if wants_item:
            confidence = resolution.confidence if named else top_conf
            message.set(INTENT, {"name": REQUEST_ITEM, "confidence": confidence}, add_to_output=True)
            rewritten = [(REQUEST_ITEM, confidence)] + [
                (n, c) for n, c in ranking if not n.startswith(ITEM_INTENT_PREFIX)
            ]
            message.set(INTENT_RANKING_KEY, [{"name": n, "confidence": c} for n, c in rewritten], add_to_output=True)
        if wants_item or asks_about_item:
            message.set(ENTITIES, (message.get(ENTITIES) or []) + self._entities(resolution), add_to_output=True)
        # The model's own ranking stays in the output for evaluation and debugging.
        message.set(RESOLUTION_KEY, {**_as_dict(resolution), "model_ranking": ranking[:10]}, add_to_output=True)

    @staticmethod
    def _entities(resolution: Resolution) -> List[Dict[Text, Any]]:
        entities: List[Dict[Text, Any]] = []
        if resolution.item:
            start, end = resolution.span or (0, 0)
            entities.append(
                {
                    "entity": "item",
                    "value": resolution.item,
                    "start": start,
                    "end": end,
                    "confidence_entity": resolution.confidence,
                    "extractor": "ItemResolver",
                }
            )
        elif resolution.candidates:
            for candidate in resolution.candidates:
                entities.append(
                    {"entity": "item_candidate", "value": candidate, "start": 0, "end": 0, "extractor": "ItemResolver"}
                )
        return entities


def _as_dict(resolution: Resolution) -> Dict[Text, Any]:
    return {
        "item": resolution.item,
        "confidence": resolution.confidence,
        "candidates": list(resolution.candidates),
        "source": resolution.source,
    }
