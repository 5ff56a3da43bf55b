"""Personal data where people read it: masked, in one way per kind of value.

- Where staff and logs read a value (console pages, API answers, audit entries, log lines): `mask_id_number`
  (3301**********123X), `mask_phone` (138****5678), `mask_openid` (oAbC****), `mask_name` (王*英), and `mask_text`
  for every ID and mobile number in a free text.
- Where the dialogue holds a resident's number (Rasa's trackers, slots): its `masked_form`, the stand-in the
  channels leave in the text (330106********121X, 138****5678) and under which the real value is kept in the
  backend's vault (`security.resident_text`). It keeps two more characters of an ID number than `mask_id_number`
  (the county code), which is what residents recognise their number by when the bot says it back.
"""

from __future__ import annotations

import re

from vocabulary.phones import MOBILE_NUMBER

MASKED_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{6}\*{5,}[0-9]{3}[0-9X](?![0-9])")
"""An ID-like number in its `masked_form`: 330106********121X."""
MASKED_PHONE = re.compile(r"1[3-9][0-9]\*{4}[0-9]{4}(?![0-9])")
"""A mobile number in its `masked_form`: 138****5678 (after +86 too)."""
MASKED = re.compile(f"{MASKED_ID_NUMBER.pattern}|{MASKED_PHONE.pattern}")
"""Either masked form, in a text."""
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


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


def mask_openid(openid: str | None) -> str | None:
    """Keep the first 4 characters of a WeChat OpenID (oAbC****): enough to tell followers apart in a log."""
    if not openid:
        return openid
    return f"{openid[:4]}****" if len(openid) > 4 else "****"


def mask_name(name: str) -> str:
    """A name as it may be said back: the first and last characters (“王*英”, “欧阳**锋”); a two-character name keeps
    only its first (“王*”)."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"


def mask_text(text: str) -> str:
    """Every 18-character ID number and mobile number in a free text (a log line, a URL) masked."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)) or "", text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)) or "", text)


def masked_form(value: str) -> str:
    """The stand-in of a resident's number in the dialogue: 138****5678 for a mobile number, the first 6 and last 4
    characters with stars between for anything else of at least 11 characters (330106********121X)."""
    if MOBILE_NUMBER.fullmatch(value):
        return f"{value[:3]}****{value[-4:]}"
    if len(value) < 11:
        raise ValueError("too short to be masked")
    return f"{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"


def masked_in(text: str | None) -> list[str]:
    """The masked forms in ``text``, in order, each once."""
    return list(dict.fromkeys(match.group(0) for match in MASKED.finditer(text or "")))


def is_masked(value: str | None) -> bool:
    """Whether ``value`` is exactly one masked form (as a slot holding a number is)."""
    return bool(value) and MASKED.fullmatch(value or "") is not None
