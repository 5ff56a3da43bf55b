"""Numbered choices and short answers: what residents reply to "请回复数字" and yes/no questions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

ID_NUMBER_IN_TEXT = re.compile(r"\d{17}[\dXx]")
"""An 18-character resident ID number inside whatever the resident typed or said."""
CHINESE_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
YES_WORDS = ("是", "对", "有", "好", "要", "可以", "行", "嗯", "带了", "同意", "没错", "ok", "OK")
NO_WORDS = ("不", "没", "否", "别", "算了")
AFFIRMATIVE_NEGATIONS = ("没错", "没问题", "不错")
"""Phrases with a negation's character that say yes."""
ALL_WORDS = ("都有", "全部", "全都", "都带了", "都齐了")


def numbered(labels: Sequence[str]) -> str:
    """One numbered line per label ("1. 医保"), so a screen reader and an elderly reader take them one by one."""
    return "\n".join(f"{n}. {label}" for n, label in enumerate(labels, start=1))


def offer(kind: str, values: Sequence[str]) -> list[str]:
    """Encode a numbered offer for the ``offered`` slot: ["item:residence_permit", …]."""
    return [f"{kind}:{value}" for value in values]


def offered_values(offered: Sequence[str] | None, kind: str) -> list[str]:
    """The values of one kind from the ``offered`` slot."""
    return [entry.split(":", 1)[1] for entry in offered or [] if entry.startswith(f"{kind}:")]


def numbers_in(text: str, entities: Sequence[dict[str, Any]] = ()) -> list[int]:
    """Every choice number the resident gave, in order: "1 3", "1和3", "第二个", "三", "２"."""
    found: list[int] = []
    for entity in entities:
        if entity.get("entity") == "choice":
            found.extend(_numbers(str(entity.get("value", ""))))
    if not found:
        found = _numbers(text)
    return list(dict.fromkeys(found))


def _numbers(text: str) -> list[int]:
    text = text.translate(_FULL_WIDTH)
    if re.search(r"\d", text):
        return [int(n) for n in re.findall(r"\d+", text) if 0 < int(n) < 100]
    return [CHINESE_DIGITS[ch] for ch in text if ch in CHINESE_DIGITS]


def yes_or_no(intent: str | None, text: str) -> bool | None:
    """True for yes, False for no, None when the answer is neither (ask again).

    A negation in the words wins over the model's intent: "不是" read as ``affirm`` must never become a yes (a
    consent, a reused identity). Phrases that only look negative ("没错", "没问题") are taken out first.
    """
    plain = text.strip()
    for phrase in AFFIRMATIVE_NEGATIONS:
        plain = plain.replace(phrase, "好")
    if any(word in plain for word in NO_WORDS):
        return False
    if intent == "affirm":
        return True
    if intent in {"deny", "none_of_these"}:
        return False
    if any(word in plain for word in YES_WORDS):
        return True
    return None
