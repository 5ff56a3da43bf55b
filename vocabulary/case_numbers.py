"""Case numbers (办件编号): ``JJ-<service day YYYYMMDD>-<sequence of the day, at least 4 digits>``, as the backend
issues them, and as residents type or say them back ("jj 20261207 0001")."""

from __future__ import annotations

import datetime as dt
import re

PREFIX = "JJ"
CASE_NUMBER = re.compile(r"JJ-\d{8}-\d{4,}")
"""A case number as the backend issues it: JJ-20261207-0001 (a day's 10 000th case gets five digits)."""
_SAID = re.compile(r"JJ[\s-]*(\d{8})[\s-]*(\d{4,})", re.IGNORECASE)
"""A case number as residents type or say it: any case, spaces or hyphens (or nothing) between its parts."""


def format_case_number(day: dt.date, sequence: int) -> str:
    """The number of the day's ``sequence``-th case (counting from 1): JJ-20261207-0001."""
    if sequence < 1:
        raise ValueError("a case's sequence counts from 1")
    return f"{PREFIX}-{day:%Y%m%d}-{sequence:04d}"


def is_case_number(value: str) -> bool:
    """Whether ``value`` is exactly a case number as the backend issues them."""
    return CASE_NUMBER.fullmatch(value) is not None


def case_number_in(text: str | None) -> str | None:
    """The first case number in what a resident typed or said ("jj 20261207 0001" too), written as the backend
    writes it; None when there is none."""
    found = _SAID.search(text or "")
    return f"{PREFIX}-{found.group(1)}-{found.group(2)}" if found else None


def without_case_numbers(text: str | None, replacement: str = " ") -> str:
    """``text`` with every case number (as residents write them) replaced, so its digits are not read as a code."""
    return _SAID.sub(replacement, text or "")
