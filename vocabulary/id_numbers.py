"""What a resident ID number (居民身份证号码, GB 11643-1999) says about its holder: birth date, age, sex.

Only the reading of a number is here; whether a number is valid (check character, date, area) is the backend's
check (`backend.id_checks`). These functions expect a valid 18-character number.
"""

from __future__ import annotations

import datetime as dt


def birth_date(id_number: str) -> dt.date:
    """The birth date a valid ID number carries (characters 7 to 14, YYYYMMDD); ValueError when it is no date."""
    digits = id_number[6:14]
    if len(digits) != 8 or not digits.isascii() or not digits.isdigit():
        raise ValueError("no birth date in this ID number")
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def age_on(id_number: str, day: dt.date) -> int:
    """Age in whole years on ``day`` (a birthday counts on the day itself; 29 February's on 1 March)."""
    born = birth_date(id_number)
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def is_male(id_number: str) -> bool:
    """The sequence digit (the 17th character) is odd for men."""
    return int(id_number[16]) % 2 == 1
