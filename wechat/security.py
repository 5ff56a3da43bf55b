"""Is this request really from WeChat, is it fresh, and is its XML harmless? Checked before anything else runs."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring


class Refused(Exception):
    """The request is refused; ``status`` is the HTTP status to answer with (nothing else is done)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature(token: str, timestamp: str, nonce: str, *extra: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated strings."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, *extra])).encode("utf-8")).hexdigest()


def check_signature(token: str, query: Mapping[str, str]) -> None:
    """The query's ``signature`` must match; a missing part counts as forged."""
    given, timestamp, nonce = query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")
    if not (token and given and timestamp and nonce):
        raise Refused(403, "signature missing")
    if not (given.isascii() and timestamp.isascii() and nonce.isascii()):  # compare_digest raises on non-ASCII text
        raise Refused(403, "signature parts are not ASCII")
    if not hmac.compare_digest(given.lower(), signature(token, timestamp, nonce)):
        raise Refused(403, "signature does not match")


def check_fresh(query: Mapping[str, str], tolerance_s: float, now: float | None = None) -> None:
    """Refuse timestamps further than ``tolerance_s`` from now: a captured request cannot be replayed later."""
    try:
        stamp = float(int(query.get("timestamp", "")))
    except (ValueError, OverflowError):  # OverflowError: more digits than a float holds
        raise Refused(403, "timestamp is not a time") from None
    if abs((time.time() if now is None else now) - stamp) > tolerance_s:
        raise Refused(403, "timestamp outside the accepted window")


def parse_flat_xml(body: bytes | str) -> dict[str, str]:
    """Parse a WeChat ``<xml>`` document into {tag: text}, refusing DTDs, entities and external references.

    Every field must be plain text given once, as in all WeChat sends this account (text, voice, image, click and
    follow events): a field repeated, nested, with attributes or a namespace would be read differently here and by
    wechatpy's parser (as a list or a dict), so the message is refused instead.
    """
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Refused(400, f"hostile XML refused ({type(exc).__name__})") from None
    except (ParseError, ValueError, LookupError) as exc:  # LookupError: an encoding declaration Python does not know
        raise Refused(400, f"malformed XML ({exc})") from None
    if root.tag != "xml":
        raise Refused(400, "the document is not a WeChat <xml> message")
    fields: dict[str, str] = {}
    for child in root:
        if child.tag in fields or child.attrib or len(child) or child.tag.startswith("{"):
            raise Refused(400, f"<{child.tag[:40]}> is not a plain WeChat field")
        fields[child.tag] = child.text or ""
    return fields
