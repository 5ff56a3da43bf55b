"""Checks of what residents type: resident ID numbers (GB 11643-1999) and mobile numbers, refused with a Chinese
message. What a valid ID number says (birth date, age, sex) is `vocabulary.id_numbers`; masking is
`vocabulary.masking`.

The check character and date come from python-stdnum (`stdnum.cn.ric`). Its place check is not used:
it rejects an area code that did not exist in the resident's birth year, but area codes are assigned when
the number is issued, so it refuses most elderly residents (330106 for someone born in 1950) and real
numbers with retired codes (330185, 临安市 before 2017). We check the province part only.
"""

from __future__ import annotations

import datetime as dt
import re

from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from vocabulary.phones import is_mobile_number

PROVINCE_CODES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
    }
)
EARLIEST_BIRTH_YEAR = 1890


class InvalidIdNumber(ValueError):
    """The ID number is wrong; ``code`` says how and ``message`` says it in Chinese for the resident."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def normalise_id_number(raw: str) -> str:
    """Strip spaces and make a trailing x upper-case (residents type 'x')."""
    return re.sub(r"\s+", "", raw or "").upper()


def validate_id_number(raw: str, *, today: dt.date | None = None) -> str:
    """Return the normalised 18-character ID number or raise InvalidIdNumber with a Chinese message."""
    number = normalise_id_number(raw)
    if len(number) != 18:
        raise InvalidIdNumber("id_number_length", f"身份证号码应为18位，您输入的是{len(number)}位。")
    try:
        if not number[:17].isdigit() or not re.fullmatch(r"[0-9X]", number[17]):
            raise InvalidFormat()
        if number[17] != ric.calc_check_digit(number):
            raise InvalidChecksum()
        birth = ric.get_birth_date(number)
    except InvalidFormat:
        raise InvalidIdNumber("id_number_format", "身份证号码只能是数字，最后一位可以是X。") from None
    except InvalidChecksum:
        raise InvalidIdNumber("id_number_checksum", "身份证号码校验位不对，请核对后重新输入。") from None
    except (InvalidComponent, InvalidLength):
        raise InvalidIdNumber("id_number_birth_date", "身份证号码中的出生日期不正确，请核对。") from None
    if int(number[:2]) not in PROVINCE_CODES:
        raise InvalidIdNumber("id_number_area", "身份证号码前两位地区码不正确，请核对。")
    if birth.year < EARLIEST_BIRTH_YEAR or birth > (today or dt.date.today()):
        raise InvalidIdNumber("id_number_birth_date", "身份证号码中的出生日期不正确，请核对。")
    return number


def validate_phone(raw: str) -> str:
    """Return an 11-digit mainland mobile number or raise ValueError with a Chinese message."""
    phone = re.sub(r"[\s-]", "", raw or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not is_mobile_number(phone):
        raise ValueError("手机号码应为11位、以1开头，请核对。")
    return phone
