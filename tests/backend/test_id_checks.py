"""Checks of resident ID numbers (GB 11643) and phones, and the masking of the backend's log records."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.id_checks import InvalidIdNumber, validate_id_number, validate_phone
from backend.logs import MaskingFilter
from tests.conftest import ELDER_ID, make_id


def test_the_standards_example_is_valid() -> None:
    assert validate_id_number(ELDER_ID) == ELDER_ID
    assert validate_id_number(" 11010519491231002x ") == ELDER_ID  # residents type a small x and spaces


@pytest.mark.parametrize(
    "number",
    [
        make_id("330106", "19500101", "123"),  # 西湖区 code, born before the code existed: real elderly residents
        make_id("330185", "19620815", "044"),  # 临安市, a retired code still on many cards
        make_id("330103", "19450301", "012"),  # 下城区, merged away in 2021
        make_id("542621", "19880101", "019"),  # 西藏
    ],
)
def test_real_residents_numbers_are_accepted(number: str) -> None:
    assert validate_id_number(number) == number


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010519491231002", "id_number_length"),
        ("11010519491231002X1", "id_number_length"),
        ("110105194912310021", "id_number_checksum"),
        ("1101051949123100AX", "id_number_format"),
        ("11010519491231002Y", "id_number_format"),
        (make_id("110105", "19500230", "001"), "id_number_birth_date"),
        (make_id("110105", "20991231", "001"), "id_number_birth_date"),
        (make_id("990105", "19800101", "001"), "id_number_area"),
        ("", "id_number_length"),
    ],
)
def test_bad_numbers_get_a_reason_in_chinese(number: str, code: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        validate_id_number(number, today=dt.date(2026, 11, 26))
    assert caught.value.code == code
    assert "身份证" in caught.value.message


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 1, 1)), st.integers(0, 999))
def test_every_checksum_we_compute_validates_and_one_wrong_digit_does_not(born: dt.date, seq: int) -> None:
    number = make_id("330106", born.strftime("%Y%m%d"), f"{seq:03d}")
    assert validate_id_number(number, today=dt.date(2026, 11, 26)) == number
    wrong = number[:-1] + ("0" if number[-1] != "0" else "1")
    with pytest.raises(InvalidIdNumber):
        validate_id_number(wrong, today=dt.date(2026, 11, 26))


@pytest.mark.parametrize("raw", ["13812345678", "138 1234 5678", "+8613812345678", "199-1234-5678"])
def test_phones_accepted(raw: str) -> None:
    assert len(validate_phone(raw)) == 11


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "138123456789", "phone", ""])
def test_phones_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="手机号码"):
        validate_phone(raw)


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.masking")
    caplog.handler.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="tests.masking"):
        logger.info("filed for %s, phone %s", ELDER_ID, "13812345678")
    assert ELDER_ID not in caplog.text and "13812345678" not in caplog.text
    assert "1101**********002X" in caplog.text
