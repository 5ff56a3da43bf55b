"""What a resident's words may carry into the dialogue: no typed intent, no ID number or phone in clear.

Rasa reads a text that starts with "/" as an intent with entities (``/follow_ticket{"ticket": …}``), skipping NLU and
the rules' guards, and it keeps every text in its tracker. So every channel puts what a resident typed or said
through `clean` before Rasa sees it (`bot.channels.resident_text`):

- the leading run of spaces (any kind, full-width too), invisible characters and slashes ("/", "／", "⁄", "∕") is
  dropped: "／file_case" becomes the words "file_case", never an intent;
- every ID-like number (15 to 18 characters, digits with a last X, single spaces allowed between digits; or any run
  of 19 digits or more) and every mainland mobile number (11 digits from 13…–19…, after an optional +86, single
  spaces or hyphens allowed) is replaced by its masked form (`vocabulary.masking.masked_form`): the first 6 and the
  last 4 characters of an ID-like number, the first 3 and the last 4 digits of a phone. The real value (spaces and
  hyphens taken out, a lower-case x made upper-case) goes with it, for the channel to deposit in the backend's vault
  under (conversation, masked form); the actions read it back from there, never from the tracker.

Full-width digits, "Ｘ", "＋" and the ideographic space are read as their ASCII selves first. A masked text is left
as it is by a second `clean` (its stars break every run of digits). Case numbers (JJ-20261207-0001: 12 digits) and
queue numbers stay readable.

Standard library only, Python 3.10: Rasa's channels import it, and so does the backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vocabulary.masking import masked_form
from vocabulary.phones import is_mobile_number

ID_NUMBER = "id_number"
"""Kind of an ID-like number (an 18-character resident ID number, or something close enough to be one)."""
PHONE = "phone"
"""Kind of a mainland mobile number."""

_ASCII = str.maketrans("０１２３４５６７８９Ｘｘ＋\u3000", "0123456789Xx+ ")
_COMMAND_PREFIX = re.compile(r"^[\s\u200b-\u200d\u2060\ufeff/／⁄∕⧸]+")
"""What may stand before a typed intent: spaces of any kind, invisible characters, slashes of any width."""
_NUMBERS = re.compile(
    r"(?<![0-9])(?:"
    r"(?P<long>[0-9]{19,}[Xx]?)"  # a run too long for any number we know: masked whole
    r"|(?P<id>[0-9](?: ?[0-9]){13,16} ?[0-9Xx])"  # 15–18 characters, single spaces between them
    r"|(?P<prefix>\+?86[ -]?)?(?P<phone>1[ -]?[3-9](?:[ -]?[0-9]){9})"  # 11 digits, single spaces or hyphens
    r")(?![0-9])"
)
_SEPARATORS = re.compile(r"[ -]")
REASKED_TEXT = "？"
"""What a text that was nothing but slashes and spaces becomes: a question mark, as an empty WeChat message does."""


@dataclass(frozen=True)
class Number:
    """A number taken out of a resident's text: its kind, its real value and the masked form left in its place."""

    kind: str
    """`ID_NUMBER` or `PHONE`."""
    value: str
    """The real value: digits (and a last X), without spaces or hyphens."""
    masked: str
    """What the text says instead (`masked_form` of ``value``)."""


@dataclass(frozen=True)
class Cleaned:
    """A resident's text fit for the dialogue, and the numbers taken out of it (in order, each once)."""

    text: str
    numbers: tuple[Number, ...] = ()


def without_command_prefix(text: str) -> str:
    """``text`` without the spaces, invisible characters and slashes before its first word, so Rasa can never read
    it as an intent ("／file_case" → "file_case"); a text of nothing else becomes `REASKED_TEXT`."""
    stripped = _COMMAND_PREFIX.sub("", text)
    return stripped if stripped or not text else REASKED_TEXT


def kind_of(value: str) -> str:
    """`PHONE` for a mainland mobile number's value, else `ID_NUMBER`."""
    return PHONE if is_mobile_number(value) else ID_NUMBER


def mask_numbers(text: str) -> Cleaned:
    """``text`` with every ID-like number and mobile number replaced by its masked form, and the numbers found."""
    found: dict[str, Number] = {}

    def replace(match: re.Match[str]) -> str:
        if match.group("phone"):
            value = _SEPARATORS.sub("", match.group("phone"))
            prefix = _SEPARATORS.sub("", match.group("prefix") or "")
        else:
            value = _SEPARATORS.sub("", match.group("long") or match.group("id")).upper()
            prefix = ""
        number = Number(kind_of(value), value, masked_form(value))
        found.setdefault(number.masked, number)
        return prefix + number.masked

    masked = _NUMBERS.sub(replace, text.translate(_ASCII))
    return Cleaned(masked, tuple(found.values()))


def clean(text: str) -> Cleaned:
    """A resident's text as the dialogue may see it: `without_command_prefix`, then `mask_numbers`."""
    return mask_numbers(without_command_prefix(text.translate(_ASCII)))
