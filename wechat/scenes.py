"""The scenes of the centre's parametric QR codes (带参数二维码): what a scan tells the webhook.

``item_<item id>`` is on each item's poster, ``queue`` at the number machine (both permanent codes), and
``ticket_<YYYYMMDD>_<number>`` on each printed queue ticket (a temporary code the backend asks WeChat for). A scene
need not be secret: only WeChat can sign an event carrying it, and only the paper ticket carries a ticket's code.
"""

from __future__ import annotations

import datetime as dt
import re

ITEM_PREFIX = "item_"
QUEUE = "queue"
TICKET_PREFIX = "ticket_"
MAX_SCENE_LENGTH = 64
"""WeChat's limit for a string scene (scene_str)."""
TICKET_NUMBER = re.compile(r"[A-Z]\d{3,7}")
"""A queue ticket's number: its category's letter and the day's sequence (A012, V003)."""
_TICKET = re.compile(rf"ticket_(\d{{8}})_({TICKET_NUMBER.pattern})")


def ticket_scene(service_day: dt.date, number: str) -> str:
    """The scene of a queue ticket's code: ``ticket_20261127_A012``."""
    return f"{TICKET_PREFIX}{service_day:%Y%m%d}_{number}"


def ticket_in_scene(scene: str) -> str | None:
    """``20261127_A012`` for a ticket's scene (the value the dialogue receives), None for any other scene."""
    match = _TICKET.fullmatch(scene)
    return f"{match.group(1)}_{match.group(2)}" if match else None


def parse_ticket(value: str) -> tuple[dt.date, str] | None:
    """``20261127_A012`` → (2026-11-27, "A012"); None when it names no ticket."""
    match = _TICKET.fullmatch(f"{TICKET_PREFIX}{value}")
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match.group(1), "%Y%m%d").date(), match.group(2)
    except ValueError:
        return None
