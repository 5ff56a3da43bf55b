"""Masking: whatever is masked never shows the digits it hides, in every form people read."""

from __future__ import annotations

import datetime as dt
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.ids import resident_id_number
from vocabulary.masking import (
    MASKED_ID_NUMBER,
    MASKED_PHONE,
    is_masked,
    mask_id_number,
    mask_name,
    mask_openid,
    mask_phone,
    mask_text,
    masked_form,
    masked_in,
)
from vocabulary.scenes import SIGNATURE_ALPHABET

ELDER_ID = "11010519491231002X"
id_numbers = st.builds(
    resident_id_number,
    area=st.sampled_from(["110105", "330106", "330185", "542621"]),
    born=st.dates(min_value=dt.date(1890, 1, 1), max_value=dt.date(2026, 12, 31)).map(lambda day: f"{day:%Y%m%d}"),
    seq=st.integers(0, 999).map(lambda n: f"{n:03d}"),
)
phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
openids = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=40)


@given(id_numbers)
def test_a_masked_id_number_keeps_four_and_four_and_hides_the_birth_date(number: str) -> None:
    masked = mask_id_number(number)
    assert masked == f"{number[:4]}{'*' * 10}{number[-4:]}"
    assert number[6:14] not in masked and number not in masked


@given(phones)
def test_a_masked_phone_keeps_three_and_four(phone: str) -> None:
    assert mask_phone(phone) == f"{phone[:3]}****{phone[-4:]}"


def test_empty_and_short_values_are_masked_whole() -> None:
    assert mask_id_number(None) is None and mask_id_number("") == "" and mask_id_number("12345678") == "********"
    assert mask_phone(None) is None and mask_phone("") == "" and mask_phone("1234567") == "*******"
    assert mask_openid(None) is None and mask_openid("oAbC") == "****"


@given(openids)
def test_a_masked_openid_keeps_at_most_four_characters(openid: str) -> None:
    masked = mask_openid(openid)
    assert masked.endswith("****") and masked.removesuffix("****") == openid[:4] * (len(openid) > 4)
    assert len(openid) <= 4 or openid not in masked


def test_names_keep_their_first_and_last_characters() -> None:
    assert mask_name("王秀英") == "王*英" and mask_name("欧阳小锋") == "欧**锋" and mask_name("王英") == "王*"
    assert mask_name(" 李 ") == "*"


@given(id_numbers, phones, st.text(alphabet="办件查询 ，。:/?=&", max_size=20))
def test_no_id_or_phone_survives_in_a_free_text(number: str, phone: str, words: str) -> None:
    masked = mask_text(f"{words}{number}{words} {phone}/{words}")
    assert number not in masked and phone not in masked
    assert mask_id_number(number) in masked and mask_phone(phone) in masked


def test_case_numbers_and_scene_signatures_are_not_personal_data() -> None:
    line = f"case JJ-20261126-0001 id {ELDER_ID} ticket_20261127_A012_{SIGNATURE_ALPHABET * 2}"
    assert mask_text(line) == line.replace(ELDER_ID, "1101**********002X")


@given(id_numbers)
def test_the_dialogues_form_of_an_id_number_is_recognised_and_hides_the_birth_date(number: str) -> None:
    form = masked_form(number)
    assert form == f"{number[:6]}{'*' * 8}{number[-4:]}" and MASKED_ID_NUMBER.fullmatch(form)
    assert is_masked(form) and not is_masked(number) and number[6:14] not in form
    assert masked_in(f"我的身份证 {form}，电话也给你") == [form]


@given(phones)
def test_the_dialogues_form_of_a_phone_is_recognised(phone: str) -> None:
    form = masked_form(phone)
    assert form == mask_phone(phone) and MASKED_PHONE.fullmatch(form) and is_masked(form)
    assert masked_in(f"+86{form} 和 {form}") == [form]


def test_a_value_too_short_has_no_dialogue_form() -> None:
    with pytest.raises(ValueError):
        masked_form("1234567890")
    assert not is_masked(None) and not is_masked("") and masked_in(None) == []
