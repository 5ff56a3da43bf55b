"""The addresses of the /follow pages a resident opens by scanning a printed QR code: a ticket's place in the queue
(public) and a case's progress (its link signed, because case numbers are sequential and a case's item can be
sensitive: 低保, 残疾证 …).

Paths are the backend's own (``/follow/…``); a URL is a path placed under FOLLOW_URL, the address of the /follow
pages as residents' phones reach them (``https://centre.example/follow``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

FOLLOW_PATH = "/follow"
"""Where the backend serves the pages."""
CASE_SIGNATURE_LENGTH = 20
"""Hex digits of a case link's signature (80 bits of HMAC-SHA256 with the follow secret)."""


def ticket_path(service_day: dt.date, number: str) -> str:
    """The ticket page's path: ``/follow/ticket/2026-12-07/A012``."""
    return f"{FOLLOW_PATH}/ticket/{service_day.isoformat()}/{number}"


def case_signature(secret: bytes, case_number: str) -> str:
    """The signature a case page's link carries (its ``k``), keyed with the follow secret."""
    return hmac.new(secret, case_number.encode(), hashlib.sha256).hexdigest()[:CASE_SIGNATURE_LENGTH]


def case_signature_valid(secret: bytes, case_number: str, signature: str) -> bool:
    """True when ``signature`` is the backend's for this case's link (compared in constant time)."""
    return hmac.compare_digest(case_signature(secret, case_number), signature)


def case_path(secret: bytes, case_number: str) -> str:
    """The signed path of a case's page (the QR code on the 受理回执): ``/follow/case/JJ-…?k=<signature>``."""
    return f"{FOLLOW_PATH}/case/{case_number}?k={case_signature(secret, case_number)}"


def follow_url(base: str, path: str) -> str:
    """A /follow page's ``path`` (as `ticket_path` and `case_path` give it) under ``base`` (FOLLOW_URL)."""
    if not path.startswith(f"{FOLLOW_PATH}/"):
        raise ValueError(f"not a path of the {FOLLOW_PATH} pages: {path!r}")
    return f"{base.rstrip('/')}{path.removeprefix(FOLLOW_PATH)}"


def ticket_url(base: str, service_day: dt.date, number: str) -> str:
    """The ticket page's address under ``base`` (FOLLOW_URL)."""
    return follow_url(base, ticket_path(service_day, number))


def case_url(base: str, secret: bytes, case_number: str) -> str:
    """The signed address of a case's page under ``base`` (FOLLOW_URL)."""
    return follow_url(base, case_path(secret, case_number))
