"""Queue tickets (取号) and the hall's rules about them: the two categories, who goes to the 绿色通道, and when a
follower is told that their turn is near.

A ticket's number is its category's letter and the day's sequence of that category, at least three digits: A001,
V012. The backend decides a ticket's category (`category_for`); the channels say what they know (the resident's age
from the ID number, a reason the resident stated) and read the category from the ticket they get.
"""

from __future__ import annotations

import re

GENERAL = "A"
"""综合窗口: everyone."""
PRIORITY = "V"
"""绿色通道: residents of PRIORITY_AGE and over, disabled and pregnant residents; called before 综合 tickets."""
CATEGORIES = (GENERAL, PRIORITY)
TICKET_NUMBER = re.compile(r"[A-Z]\d{3,7}")
"""A queue ticket's number: its category's letter and the day's sequence (A012, V003)."""
PRIORITY_AGE = 70
"""Residents this old or older (in whole years, by their ID number) get a 绿色通道 ticket without asking."""
BY_AGE = "age"
"""The priority reason of a ticket that is 绿色通道 by the resident's age (nothing to show but the ID card)."""
PRIORITY_REASONS = ("绿色通道", "优先", "孕妇", "怀孕", "残疾", "残障", "轮椅")
"""Words of a resident asking for the 绿色通道 ("我是孕妇，帮我取个号"; the counter's 绿色通道 button says
"绿色通道取号"): the reason is shown at the window (残疾人证, 孕检材料)."""
NEAR_AHEAD = 3
"""A follower is told 快到您了 when a call leaves this many people ahead of their ticket: a ticket already this
close gets no reminder, so none is promised."""
_STATED_REASON = re.compile("|".join(PRIORITY_REASONS))


def format_ticket_number(category: str, sequence: int) -> str:
    """The number of the day's ``sequence``-th ticket (counting from 1) of ``category``: A001."""
    if category not in CATEGORIES:
        raise ValueError(f"no ticket category {category!r}")
    if not 1 <= sequence <= 9_999_999:
        raise ValueError("a ticket's sequence counts from 1 to 9 999 999")
    return f"{category}{sequence:03d}"


def is_ticket_number(value: str) -> bool:
    """Whether ``value`` is exactly a ticket's number (upper-case letter)."""
    return TICKET_NUMBER.fullmatch(value) is not None


def stated_priority_reason(text: str | None) -> str | None:
    """The first of PRIORITY_REASONS in what a resident said when taking a number; None when they asked for none."""
    found = _STATED_REASON.search(text or "")
    return found.group(0) if found else None


def priority_reason(*, age: int | None = None, stated: str | None = None) -> str | None:
    """Why a ticket goes to the 绿色通道: BY_AGE for a resident of PRIORITY_AGE or over, else the reason they stated
    (one of PRIORITY_REASONS); None when neither (a 综合 ticket, unless the caller asked for 绿色通道 outright)."""
    if age is not None and age >= PRIORITY_AGE:
        return BY_AGE
    return stated if stated in PRIORITY_REASONS else None


def category_for(*, requested: str = GENERAL, reason: str | None = None) -> str:
    """A ticket's category: PRIORITY when it was asked for (``requested``) or there is a priority ``reason``
    (`priority_reason`), GENERAL otherwise."""
    return PRIORITY if requested == PRIORITY or reason is not None else GENERAL


def needs_proof(reason: str | None) -> bool:
    """Whether the resident must show something at the window for their 绿色通道 ticket (a stated reason: 残疾人证,
    孕检材料); a ticket by age is checked on the ID card like any other."""
    return reason is not None and reason != BY_AGE
