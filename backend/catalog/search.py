"""Find items by what residents type: the official name, an alias, part of either, or a near miss.

This is the backend's text search (the API's ``/items/search``). The dialogue resolves items in the Rasa
process instead (``bot/nlu/resolver.py``: model intents, names and pinyin homophones).
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from backend.catalog.schema import Catalog, Item

MIN_SCORE = 0.6


@dataclass(frozen=True)
class Match:
    """An item, how well it matched (0–1), and the name or alias that matched."""

    item: Item
    score: float
    matched: str


def name_index(catalog: Catalog) -> list[tuple[str, Item]]:
    """Every official name and alias with its item, longest names first."""
    pairs = [(name, item) for item in catalog.items for name in (item.name, *item.aliases)]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def _score(query: str, name: str) -> float:
    if query == name:
        return 1.0
    if name in query:  # "我想办老年卡" contains 老年卡
        return 0.9 + 0.09 * len(name) / len(query)
    if query in name:  # "老年" is part of 老年卡
        return 0.75 + 0.14 * len(query) / len(name)
    return fuzz.ratio(query, name) / 100 * 0.85


def search_items(catalog: Catalog, query: str, *, limit: int = 5) -> list[Match]:
    """Best matches first, one per item, only those scoring at least MIN_SCORE."""
    query = "".join(query.split())
    if not query:
        return []
    best: dict[str, Match] = {}
    for name, item in name_index(catalog):
        score = _score(query, name)
        if score >= MIN_SCORE and (item.id not in best or best[item.id].score < score):
            best[item.id] = Match(item, round(score, 3), name)
    return sorted(best.values(), key=lambda m: -m.score)[:limit]
