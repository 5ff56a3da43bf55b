"""The scenes of the centre's parametric QR codes (带参数二维码): what a scan tells the webhook.

``item_<item id>`` is on each item's poster, ``queue`` at the number machine (both permanent codes), and
``ticket_<YYYYMMDD>_<number>_<signature>`` on each printed queue ticket (a temporary code the backend asks WeChat
for). Only WeChat can sign an event carrying a scene, but anyone can type the intent message a scan becomes
(``/follow_ticket{"ticket": …}``), and ticket numbers are sequential: so a ticket's scene carries the backend's keyed
signature (HMAC-SHA256 with the follow secret, its first 128 bits written with the letters a–p), and the backend
links a follower only for a scene it signed. Letters, not digits: no run of digits in a signature can look like a
phone or ID number to the masking of trackers and logs (`vocabulary.masking.mask_text`), which would break it.
The channel and the dialogue pass the signed value through untouched; only the backend, which holds the secret, signs
and checks it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass

from vocabulary.tickets import TICKET_NUMBER

ITEM_PREFIX = "item_"
QUEUE = "queue"
TICKET_PREFIX = "ticket_"
MAX_SCENE_LENGTH = 64
"""WeChat's limit for a string scene (scene_str)."""
SIGNATURE_LENGTH = 32
"""Letters of a ticket scene's signature (a–p, 4 bits each: 128 bits): the longest scene,
``ticket_YYYYMMDD_A1234567_<sig>``, is 57 characters, within MAX_SCENE_LENGTH."""
SIGNATURE_ALPHABET = "abcdefghijklmnop"
_SIGNATURE = rf"[a-p]{{{SIGNATURE_LENGTH}}}"
_HEX_TO_LETTERS = str.maketrans("0123456789abcdef", SIGNATURE_ALPHABET)
_TICKET = re.compile(rf"ticket_(\d{{8}})_({TICKET_NUMBER.pattern})_({_SIGNATURE})")
_PURPOSE = b"jiujin ticket scene\x00"
"""Keeps a scene's signature apart from every other use of the same secret (the case pages' links)."""


@dataclass(frozen=True)
class ScannedTicket:
    """What a ticket's scene names: its service day and number, and the signature the backend checks."""

    service_day: dt.date
    number: str
    signature: str


def ticket_signature(secret: bytes, service_day: dt.date, number: str) -> str:
    """The backend's signature of a ticket's scene (SIGNATURE_LENGTH letters a–p)."""
    message = _PURPOSE + f"{service_day:%Y%m%d}_{number}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH].translate(_HEX_TO_LETTERS)


def signature_valid(secret: bytes, service_day: dt.date, number: str, signature: str) -> bool:
    """True when ``signature`` is the backend's for this ticket (compared in constant time)."""
    return hmac.compare_digest(ticket_signature(secret, service_day, number), signature)


def ticket_scene(secret: bytes, service_day: dt.date, number: str) -> str:
    """The signed scene of a queue ticket's code: ``ticket_20261127_A012_<signature>``."""
    return f"{TICKET_PREFIX}{service_day:%Y%m%d}_{number}_{ticket_signature(secret, service_day, number)}"


def ticket_in_scene(scene: str) -> str | None:
    """``20261127_A012_<signature>`` for a ticket's scene (the value the dialogue receives), None for any other scene
    (an unsigned ``ticket_…`` too). Whether the signature is the backend's is for the backend to say."""
    match = _TICKET.fullmatch(scene)
    return scene.removeprefix(TICKET_PREFIX) if match else None


def parse_ticket(value: str) -> ScannedTicket | None:
    """``20261127_A012_<signature>`` → the ticket it names; None when it names no ticket or carries no signature."""
    match = _TICKET.fullmatch(f"{TICKET_PREFIX}{value}")
    if match is None:
        return None
    try:
        day = dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
    return ScannedTicket(day, match.group(2), match.group(3))
