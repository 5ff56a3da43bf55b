"""Decide which catalog item an utterance is about, from the NLU model's intents and the names in the text.

This is the one path from words to an item: the Rasa pipeline runs it (``component.ItemResolver``) and
``bin/jiujin resolve`` runs the same pipeline. A clear model item intent decides first: residents often
name another item as context ("我有残疾证，家里低保，想领点生活费" is about the living subsidy). Otherwise
a name or alias found in the text (also as a homophone, which the model rarely knows) decides, since
aliases are unique per item; otherwise the model's item intents are offered as candidates. Requests for
something the centre does not handle resolve to no item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.nlu.names import ItemNames
from bot.nlu.pinyin_match import NameMatcher

ITEM_INTENT_PREFIX = "item_"
OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class Thresholds:
    """When the model's item intent is trusted, and when candidates are worth offering."""

    accept: float = 0.6
    """Top item intent confidence needed to pick it without asking."""
    margin: float = 0.1
    """…and by how much it must beat the second item intent."""
    candidate: float = 0.08
    """Item intents at least this confident are offered as numbered candidates."""
    out_of_scope: float = 0.5
    """Out-of-scope confidence above which no item is offered at all."""
    max_candidates: int = 3


@dataclass(frozen=True)
class Resolution:
    """The contract of ``bin/jiujin resolve``: the item (or None), a confidence, and candidate item ids."""

    item: str | None
    confidence: float
    candidates: list[str] = field(default_factory=list)
    source: str = "none"
    """How it was decided: name, homophone, model, or none."""
    span: tuple[int, int] | None = None


def item_of_intent(intent: str) -> str | None:
    """The item id of an ``item_<id>`` intent name."""
    return intent[len(ITEM_INTENT_PREFIX) :] if intent.startswith(ITEM_INTENT_PREFIX) else None


class ItemResolution:
    """Resolves utterances against one catalog."""

    def __init__(self, items: Sequence[ItemNames], thresholds: Thresholds | None = None) -> None:
        self.ids = {item.id for item in items}
        self.matcher = NameMatcher((item.id, name) for item in items for name in item.all_names)
        self.thresholds = thresholds or Thresholds()

    def resolve(self, text: str, intent_ranking: Sequence[tuple[str, float]]) -> Resolution:
        """Combine the model's ``intent_ranking`` (name, confidence) with the names found in ``text``."""
        t = self.thresholds
        model_items = [
            (item, conf) for item, conf in ((item_of_intent(n), c) for n, c in intent_ranking) if item in self.ids
        ]
        top_intent, top_conf = intent_ranking[0] if intent_ranking else ("", 0.0)
        hits = self.matcher.find(text)
        if model_items and item_of_intent(top_intent) == model_items[0][0]:
            first, first_conf = model_items[0]
            second_conf = model_items[1][1] if len(model_items) > 1 else 0.0
            if first_conf >= t.accept and first_conf - second_conf >= t.margin:
                named = [h for h in hits if h.key == first]  # the model agrees with a name in the text
                confidence = max([first_conf, *(h.score for h in named)])
                span = (named[0].start, named[0].end) if named else None
                return Resolution(first, round(confidence, 4), [first], "model", span)
        if hits:
            best = hits[0]
            # Another item named elsewhere in the text (not inside the best name) makes the request ambiguous.
            others = [h.key for h in hits[1:] if h.key != best.key and (h.end <= best.start or h.start >= best.end)]
            candidates = list(dict.fromkeys([best.key, *others]))[: t.max_candidates]
            if len(candidates) > 1:  # two items named equally clearly ("老年卡和优待证有什么区别")
                return Resolution(None, best.score, candidates, "name")
            source = "name" if best.score == 1.0 else "homophone"
            return Resolution(best.key, best.score, candidates, source, (best.start, best.end))
        if top_intent == OUT_OF_SCOPE and top_conf >= t.out_of_scope:
            return Resolution(None, round(top_conf, 4), [], "none")
        offered = [item for item, conf in model_items if conf >= t.candidate][: t.max_candidates]
        return Resolution(None, round(top_conf, 4), offered, "none")
