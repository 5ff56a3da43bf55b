"""What an ID number says: birth date, age, sex (read the same way as python-stdnum, which the backend checks with)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from harness.ids import resident_id_number
from vocabulary.id_numbers import age_on, birth_date, is_male

births = st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2026, 12, 31))


@given(births, st.integers(0, 999))
def test_the_birth_date_is_the_one_stdnum_reads(born: dt.date, sequence: int) -> None:
    number = resident_id_number(born=f"{born:%Y%m%d}", seq=f"{sequence:03d}")
    assert birth_date(number) == ric.get_birth_date(number) == born
    assert is_male(number) == (sequence % 2 == 1)


def birthdays_passed(born: dt.date, day: dt.date) -> int:
    """Birthdays from ``born`` up to ``day`` counted one by one (29 February's on 1 March in other years)."""
    passed = 0
    for year in range(born.year + 1, day.year + 1):
        try:
            birthday = born.replace(year=year)
        except ValueError:
            birthday = dt.date(year, 3, 1)
        passed += birthday <= day
    return passed


@given(births, st.dates(min_value=dt.date(2026, 12, 31), max_value=dt.date(2100, 1, 1)))
def test_the_age_is_the_number_of_birthdays_passed(born: dt.date, day: dt.date) -> None:
    assert age_on(resident_id_number(born=f"{born:%Y%m%d}"), day) == birthdays_passed(born, day)


def test_age_counts_the_birthday_itself() -> None:
    number = resident_id_number(born="19661126")
    assert age_on(number, dt.date(2026, 11, 25)) == 59
    assert age_on(number, dt.date(2026, 11, 26)) == 60


def test_a_leap_day_birthday_counts_on_the_first_of_march() -> None:
    number = resident_id_number(born="19560229")
    assert age_on(number, dt.date(2026, 2, 28)) == 69
    assert age_on(number, dt.date(2026, 3, 1)) == 70


@pytest.mark.parametrize("number", ["1101051949", "110105ABCDEFGH002X", "110105194913310021"])
def test_a_number_without_a_birth_date_is_refused(number: str) -> None:
    with pytest.raises(ValueError):
        birth_date(number)
