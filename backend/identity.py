"""Resident ID numbers (GB 11643-1999) and mobile numbers: validation, age, and masking.

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
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
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


def birth_date(id_number: str) -> dt.date:
    """Birth date encoded in a valid ID number."""
    return ric.get_birth_date(id_number)


def age_on(id_number: str, day: dt.date) -> int:
    """Age in whole years on ``day`` (a birthday counts on the day itself)."""
    born = birth_date(id_number)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_male(id_number: str) -> bool:
    """The sequence digit is odd for men."""
    return int(id_number[16]) % 2 == 1


def validate_phone(raw: str) -> str:
    """Return an 11-digit mainland mobile number or raise ValueError with a Chinese message."""
    phone = re.sub(r"[\s-]", "", raw or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not PHONE_RE.fullmatch(phone):
        raise ValueError("手机号码应为11位、以1开头，请核对。")
    return phone


def mask_id_number(id_number: str | None) -> str | None:
    """Keep the first 4 and last 4 characters: 3301**********123X."""
    if not id_number:
        return id_number
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return f"{id_number[:4]}{'*' * (len(id_number) - 8)}{id_number[-4:]}"


def mask_phone(phone: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: 138****5678."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"


_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number that appears in free text (log lines, URLs)."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)) or "", text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)) or "", text)
