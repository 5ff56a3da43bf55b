"""Checkable eligibility rules of an item: age from the ID number, residence from the resident's answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from backend.catalog.schema import AgeRule, Item, ResidenceRule
from vocabulary.id_numbers import age_on


@dataclass(frozen=True)
class Eligibility:
    """Outcome of the pre-check; ``eligible`` is None while some rule could not be decided yet."""

    eligible: bool | None
    reasons: list[str] = field(default_factory=list)
    """Why not, in the resident's language (one sentence per failed rule)."""
    questions: list[ResidenceRule] = field(default_factory=list)
    """Rules still to ask about; their ``question`` is what to say."""
    age: int | None = None


def check_eligibility(item: Item, *, id_number: str | None, answers: Mapping[str, bool], today: dt.date) -> Eligibility:
    """Evaluate every rule of ``item``. ``answers`` maps a residence requirement (e.g. local_hukou) to yes/no."""
    reasons: list[str] = []
    open_rules: list[ResidenceRule] = []
    undecided = False
    age = age_on(id_number, today) if id_number else None
    for rule in item.eligibility:
        if isinstance(rule, AgeRule):
            if age is None:
                undecided = True
            elif (rule.min_years is not None and age < rule.min_years) or (
                rule.max_years is not None and age > rule.max_years
            ):
                reasons.append(rule.message)
        else:
            answer = answers.get(rule.requires.value)
            if answer is None:
                open_rules.append(rule)
            elif not answer:
                reasons.append(rule.message)
    if reasons:
        return Eligibility(False, reasons, open_rules, age)
    if undecided or open_rules:
        return Eligibility(None, [], open_rules, age)
    return Eligibility(True, [], [], age)
