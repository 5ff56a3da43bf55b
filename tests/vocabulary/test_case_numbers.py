"""Case numbers: the one format the backend issues, and reading them back from what residents type or say."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vocabulary.case_numbers import (
    CASE_NUMBER,
    case_number_in,
    format_case_number,
    is_case_number,
    without_case_numbers,
)

days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
sequences = st.integers(min_value=1, max_value=10**6)


@given(days, sequences)
def test_every_issued_number_matches_the_pattern_and_reads_back_as_itself(day: dt.date, sequence: int) -> None:
    number = format_case_number(day, sequence)
    assert is_case_number(number) and CASE_NUMBER.fullmatch(number)
    assert number.startswith(f"JJ-{day:%Y%m%d}-") and int(number.rsplit("-", 1)[1]) == sequence
    assert case_number_in(f"我的办件编号是{number}，谢谢") == number
    assert case_number_in(number.lower().replace("-", " ")) == number  # "jj 20261207 0001", as the counter hears it


def test_the_sequence_has_at_least_four_digits_and_counts_from_one() -> None:
    assert format_case_number(dt.date(2026, 12, 7), 1) == "JJ-20261207-0001"
    assert format_case_number(dt.date(2026, 12, 7), 12345) == "JJ-20261207-12345"
    with pytest.raises(ValueError):
        format_case_number(dt.date(2026, 12, 7), 0)


@pytest.mark.parametrize(
    "value", ["JJ-20261207-001", "jj-20261207-0001", "JJ-2026127-0001", "JJ-20261207-0001 ", "XJ-20261207-0001", ""]
)
def test_anything_else_is_not_a_case_number(value: str) -> None:
    assert not is_case_number(value)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("JJ-20261207-0001", "JJ-20261207-0001"),
        ("jj20261207 0001", "JJ-20261207-0001"),
        ("查一下 JJ 20261207 - 0001 办好了没", "JJ-20261207-0001"),
        ("JJ-20261207-12345", "JJ-20261207-12345"),  # the same five-digit sequence the backend issues
        ("JJ-20261207-0001，1234", "JJ-20261207-0001"),  # the code said after it is not part of it
        ("办好了没", None),
        ("20261207-0001", None),
        (None, None),
    ],
)
def test_case_numbers_are_read_from_what_residents_type(text: str | None, number: str | None) -> None:
    assert case_number_in(text) == number


def test_taking_the_case_number_out_leaves_the_rest_of_the_answer() -> None:
    assert without_case_numbers("JJ-20261207-0001，1234") == " ，1234"
    assert without_case_numbers(None) == ""
