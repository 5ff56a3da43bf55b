"""Mainland mobile numbers (手机号码): 11 digits from 13… to 19…."""

from __future__ import annotations

import re

MOBILE_NUMBER = re.compile(r"1[3-9]\d{9}")
"""A mainland mobile number's digits, without spaces, hyphens or +86."""


def is_mobile_number(value: str) -> bool:
    """Whether ``value`` is exactly a mobile number's 11 digits."""
    return MOBILE_NUMBER.fullmatch(value) is not None
