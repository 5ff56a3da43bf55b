"""Queue tickets: their numbers, and the hall's rule of who goes to the 绿色通道."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.ids import resident_id_number
from vocabulary.id_numbers import age_on
from vocabulary.tickets import (
    BY_AGE,
    CATEGORIES,
    GENERAL,
    PRIORITY,
    PRIORITY_AGE,
    PRIORITY_REASONS,
    TICKET_NUMBER,
    category_for,
    format_ticket_number,
    is_ticket_number,
    needs_proof,
    priority_reason,
    stated_priority_reason,
)


@given(st.sampled_from(CATEGORIES), st.integers(min_value=1, max_value=9_999_999))
def test_every_ticket_number_matches_the_pattern(category: str, sequence: int) -> None:
    number = format_ticket_number(category, sequence)
    assert is_ticket_number(number) and TICKET_NUMBER.fullmatch(number)
    assert number[0] == category and int(number[1:]) == sequence


def test_numbers_have_at_least_three_digits_and_only_known_categories() -> None:
    assert format_ticket_number(GENERAL, 1) == "A001" and format_ticket_number(PRIORITY, 12) == "V012"
    for category, sequence in (("B", 1), (GENERAL, 0), (GENERAL, 10_000_000)):
        with pytest.raises(ValueError):
            format_ticket_number(category, sequence)
    assert not is_ticket_number("a001") and not is_ticket_number("A01") and not is_ticket_number("A12345678")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("我是孕妇，帮我取个号", "孕妇"),
        ("绿色通道取号", "绿色通道"),  # the counter's 绿色通道 button
        ("我坐轮椅", "轮椅"),
        ("取号", None),
        ("", None),
        (None, None),
    ],
)
def test_a_stated_reason_is_read_from_the_residents_words(text: str | None, reason: str | None) -> None:
    assert stated_priority_reason(text) == reason


def test_the_rule_of_the_green_channel() -> None:
    assert category_for() == GENERAL
    assert category_for(requested=PRIORITY) == PRIORITY  # the number machine's 绿色通道 button
    assert priority_reason(age=PRIORITY_AGE - 1) is None
    assert priority_reason(age=PRIORITY_AGE) == BY_AGE
    assert priority_reason(age=PRIORITY_AGE + 20, stated="孕妇") == BY_AGE  # nothing to show beyond the ID card
    assert priority_reason(age=30, stated="孕妇") == "孕妇"
    assert priority_reason(stated="随便说说") is None  # only the hall's reasons count
    for reason in (BY_AGE, *PRIORITY_REASONS):
        assert category_for(reason=reason) == PRIORITY
    assert not needs_proof(None) and not needs_proof(BY_AGE)
    assert all(needs_proof(reason) for reason in PRIORITY_REASONS)


def test_the_seventieth_birthday_itself_gives_the_green_channel() -> None:
    number = resident_id_number(born="19561207")
    assert priority_reason(age=age_on(number, dt.date(2026, 12, 6))) is None
    assert priority_reason(age=age_on(number, dt.date(2026, 12, 7))) == BY_AGE
